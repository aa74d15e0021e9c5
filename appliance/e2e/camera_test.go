//go:build linux

package e2e

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// An IP camera that reboots costs its recording nothing but the reboot:
// tapedeck pulls GStreamer's RTSP server (the camera) into a recorded app;
// the camera is killed and started again on the same port; the pull is
// back within the backoff bound (max_backoff 1s) and the recording goes on
// in a second segment. Both segments decode with ffprobe.
func TestE2ECameraRestartResumesRecording(t *testing.T) {
	testenv.NeedTool(t, "ffprobe")
	port := testenv.FreePort(t)
	cam := testenv.StartCamera(t, port, "h264")

	dir := t.TempDir()
	cfg := loadYAML(t, filepath.Join(dir, "t.yaml"), fmt.Sprintf(`storage:
  dir: %s
relay:
  min_backoff: 200ms
  max_backoff: 1s
  timeout: 3s
apps:
  cams:
    record:
      format: flv
    pull:
      gate:
        url: %s
`, filepath.Join(dir, "rec"), cam.URL))
	a := appliance.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	var stop sync.Once
	shutdown := func() { stop.Do(func() { a.Shutdown(5 * time.Second) }) }
	t.Cleanup(shutdown)

	live := func() bool {
		s := a.Hub().Lookup("cams", "gate")
		return s != nil && s.Stats().Publishing
	}
	waitLive := func(want bool, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for live() != want {
			if time.Since(start) > within {
				t.Fatalf("cams/gate live = %v after %v, want %v", !want, within, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	segDir := filepath.Join(cfg.Storage.Dir, "cams", "gate")

	waitLive(true, 15*time.Second)
	time.Sleep(4 * time.Second)
	cam.Stop()
	// The pull notices the camera gone (its connection closes at once).
	waitLive(false, 5*time.Second)
	if segs := findSegments(t, segDir); len(segs) != 1 {
		t.Fatalf("before the restart: segments %v, want one", segs)
	}
	testenv.StartCamera(t, port, "h264")
	back := waitLive(true, 10*time.Second)
	// Backoff at most 1 s, plus the RTSP setup and the first keyframe
	// (key-int-max 25 at 25 fps): well under 4 s.
	if back > 4*time.Second {
		t.Errorf("the pull came back %v after the camera, want within the backoff bound", back)
	}
	t.Logf("pull back %v after the camera restarted", back.Round(time.Millisecond))
	time.Sleep(4 * time.Second)
	shutdown()

	segs := findSegments(t, segDir)
	if len(segs) != 2 {
		t.Fatalf("after the restart: segments %v, want two", segs)
	}
	for i, seg := range segs {
		label := fmt.Sprintf("segment %d (%s)", i+1, filepath.Base(seg))
		p := parseProbe(t, startProbe(t, seg, 0))
		var streams []string
		for _, s := range p.Streams {
			streams = append(streams, fmt.Sprintf("%s %dx%d", s.CodecName, s.Width, s.Height))
		}
		if !slices.Contains(streams, "h264 320x240") || !slices.Contains(streams, "aac 0x0") {
			t.Errorf("%s: streams %v, want the camera's h264 320x240 and aac", label, streams)
		}
		vfr, afr := p.entries("frame", "video"), p.entries("frame", "audio")
		t.Logf("%s: %d video frames, %d audio frames", label, len(vfr), len(afr))
		// 4 s at 25 fps; the camera's first and last moments may be cut.
		if len(vfr) < 75 || len(afr) < 100 {
			t.Errorf("%s: %d video and %d audio frames decoded, want 4 s of each", label, len(vfr), len(afr))
			continue
		}
		if !vfr[0].key {
			t.Errorf("%s: starts with a frame that is not a keyframe", label)
		}
		checkIncreasing(t, label+": video frame pts", vfr, true, 0.5)
		checkIncreasing(t, label+": audio frame pts", afr, false, 0.5)
	}
}
