package appliance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	srv, err := newTestServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
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
	for !strings.Contains(logs(), "segment done") {
		if time.Now().After(deadline) {
			t.Fatalf("no 'segment done' in the log 5 s after the publish ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	full := parseProbe(t, startProbe(t, segs[0], 0))
	// 6 s at 25 fps = 150 frames; the recorder starts at the first keyframe.
	checkMedia(t, "closed segment", full, mediaExpect{minVideoFrames: 140, minSpan: 5.5})
}
