//go:build linux

package e2e

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
)

// findSegments lists the recorded files under dir.
func findSegments(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".mp4") || strings.HasSuffix(p, ".flv")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// An ffmpeg publish lands on disk as an fMP4 segment that ffprobe decodes
// whole; a copy taken mid-recording (what a power cut leaves) decodes too,
// up to its last fragment.
func TestE2ERecording(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	srv := startTestServer(t)
	logs := srv.watch(t)

	pub := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(srv.url("live", "rec1"), 6)...)
	srv.waitPublishing(t, "live", "rec1", pub, 10*time.Second)

	// A snapshot of the growing file, 3.5 s in: the state a power cut leaves.
	time.Sleep(3500 * time.Millisecond)
	segs := findSegments(t, filepath.Join(srv.storage, "live", "rec1"))
	if len(segs) != 1 || !strings.HasSuffix(segs[0], ".mp4") {
		t.Fatalf("while publishing: segments %v, want one .mp4 under live/rec1", segs)
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(t.TempDir(), "cut.mp4")
	if err := os.WriteFile(snapshot, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cut := parseProbe(t, startProbe(t, snapshot, 0))
	// At least 1.5 s of the 3.5 s recorded: fragments are 1 s, rounded to
	// the 2 s GOP, so at most one GOP plus one fragment may be missing.
	checkMedia(t, "mid-recording snapshot", cut, mediaExpect{minVideoFrames: 35, minSpan: 1.4})

	pub.wait()
	if pub.err != nil {
		t.Fatalf("publisher failed: %s", pub.report())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs(), "segment closed") {
		if time.Now().After(deadline) {
			t.Fatalf("no 'segment closed' in the log 5 s after the publish ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	full := parseProbe(t, startProbe(t, segs[0], 0))
	// 6 s at 25 fps = 150 frames; the recorder starts at the first keyframe.
	checkMedia(t, "closed segment", full, mediaExpect{minVideoFrames: 140, minSpan: 5.5})

	// Recovery: the segment cut inside its last fragment, found in storage
	// at start-up with its open marker (as after a crash), is truncated to its last
	// complete fragment (2 s GOPs: 100 of its 150 frames stay).
	data, err = os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	recoverDir := t.TempDir()
	cutPath := filepath.Join(recoverDir, "live", "rec1", "2026-01-01_00-00-00.mp4")
	os.MkdirAll(filepath.Dir(cutPath), 0o755)
	if err := os.WriteFile(cutPath, data[:len(data)-137], 0o644); err != nil {
		t.Fatal(err)
	}
	// Left open by the crashed run: its open marker is still beside it
	// (without it, the file would be a closed one and left as is).
	if err := os.WriteFile(cutPath+recorder.OpenMarkerSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if log := startAndStop(t, recoverDir); !strings.Contains(log, "recording recovered") {
		t.Errorf("no recovery logged at start-up:\n%s", log)
	}
	info, err := os.Stat(cutPath)
	if err != nil || info.Size() >= int64(len(data)-137) {
		t.Errorf("cut segment not truncated at start-up: %v, size %v", err, info)
	}
	recovered := parseProbe(t, startProbe(t, cutPath, 0))
	checkMedia(t, "recovered segment", recovered, mediaExpect{minVideoFrames: 95, minSpan: 3.5})
}

// Segments of 2 s each run the on_segment_done command, and retention
// (an app max_bytes of 1 byte) deletes closed segments but never the one
// being written.
func TestE2ESegmentHookAndRetention(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	hookLog := filepath.Join(dir, "hooks.txt")
	yaml := fmt.Sprintf(`storage:
  dir: %s
  sweep_every: 300ms
apps:
  live:
    record:
      segment:
        duration: 2s
      max_bytes: 1
      on_segment_done:
        command: ["sh", "-c", "echo \"$TAPEDECK_SEGMENT_PATH $TAPEDECK_SEGMENT_DURATION\" >> %s"]
`, filepath.Join(dir, "rec"), hookLog)
	p := filepath.Join(dir, "t.yaml")
	os.WriteFile(p, []byte(yaml), 0o644)
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RTMP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", ""
	a := appliance.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(5 * time.Second)

	pub := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs("rtmp://"+a.RTMPAddr().String()+"/live/cam1", 7)...)
	sawOpen := false
	for !pub.exited() {
		// While publishing, the open segment must survive every sweep.
		if segs := findSegments(t, filepath.Join(dir, "rec")); len(segs) >= 1 {
			sawOpen = true
		} else if sawOpen {
			t.Errorf("no segment on disk while recording: retention deleted the open one")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	pub.wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hooks, _ := os.ReadFile(hookLog)
		lines := strings.Split(strings.TrimSpace(string(hooks)), "\n")
		left := findSegments(t, filepath.Join(dir, "rec"))
		if len(lines) >= 3 && len(left) == 0 {
			for _, l := range lines {
				if !strings.Contains(l, filepath.Join(dir, "rec", "live", "cam1")) || !strings.Contains(l, ".mp4") {
					t.Errorf("hook line %q lacks the segment path", l)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the publish: hook ran %d times (%q), %d segments left (want >= 3 runs, 0 left)", len(lines), hooks, len(left))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
