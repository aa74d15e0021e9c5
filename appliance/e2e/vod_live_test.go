//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/appliance/vod"
)

// newRecordingServer is startServer recording app "live" in format.
func newRecordingServer(t *testing.T, format string) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := loadYAML(t, filepath.Join(dir, "t.yaml"),
		fmt.Sprintf("storage:\n  dir: %s\napps:\n  live:\n    record:\n      format: %s\n", filepath.Join(dir, "rec"), format))
	return startServer(t, cfg)
}

// A segment still being recorded plays over RTMP and is followed up to the
// live edge: ffprobe joins 3 s into a 10 s publish and receives the whole
// recording, far more than was on disk when it joined, with monotonic
// timestamps; its play ends after the recorder closed the segment. FLV is
// played as the open file, fMP4 as the stream directory (the timeline
// whose newest segment is the open one).
func TestE2EVODFollowOpenSegment(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	for _, c := range []struct{ format, play string }{{"flv", "file"}, {"fmp4", "directory"}} {
		t.Run(c.format+"/"+c.play, func(t *testing.T) {
			t.Parallel()
			srv := newRecordingServer(t, c.format)
			srv.watch(t)
			pub := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(srv.url("live", "cam1"), 10)...)
			st := srv.waitPublishing(t, "live", "cam1", pub, 15*time.Second)
			time.Sleep(time.Until(st.Since.Add(3 * time.Second)))

			streamDir := filepath.Join(srv.storage, "live", "cam1")
			segs := findSegments(t, streamDir)
			if len(segs) != 1 {
				t.Fatalf("3 s into the publish: segments %v, want the one being recorded", segs)
			}
			// What was playable on disk when the player joined (the
			// recorder writes fragments, or its buffer every 2 s).
			onDisk := 0.0
			if s, err := vod.Open(vod.Target{Path: segs[0], Rel: filepath.Base(segs[0])}, vod.Options{}); err == nil {
				onDisk = s.Length()
				s.Close()
			}
			url := "rtmp://" + srv.addr + "/vod/live/cam1"
			if c.play == "file" {
				url += "/" + filepath.Base(segs[0])
			}
			joined := time.Now()
			probe := startProbe(t, url, 0)
			res := parseProbe(t, probe)
			took := time.Since(joined)
			pub.wait()
			if pub.err != nil {
				t.Fatalf("publisher failed: %s", pub.report())
			}
			// The publish is 10 s; the player starts at 0 of the file.
			checkMedia(t, "followed "+c.format+" "+c.play, res, mediaExpect{minVideoFrames: 200, minSpan: 8.5})
			v := res.entries("frame", "video")
			span := v[len(v)-1].pts - v[0].pts
			t.Logf("%s: joined with %.1f s on disk, received %.1f s of video in %v", c.format, onDisk, span, took.Round(time.Millisecond))
			if span < onDisk+5 {
				t.Errorf("received %.1f s of video, only %.1f s more than the %.1f s on disk at the join", span, span-onDisk, onDisk)
			}
			// The play ended on its own with the recording, not on a
			// timeout: the segment was closed before it completed.
			if probe.interrupted {
				t.Errorf("ffprobe did not finish on its own: %s", probe.status())
			}
			if segs := findSegments(t, streamDir); len(segs) != 1 {
				t.Errorf("after the publish: segments %v, want one", segs)
			}
		})
	}
}
