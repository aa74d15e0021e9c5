//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// ertmpConfig is a box with one app, live, recording every stream as
// fMP4 (the Enhanced RTMP tests check the recordings of some).
const ertmpConfig = `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
storage:
  dir: "{storage}"
apps:
  live:
    record:
      enabled: true
      format: fmp4
      fragment: 500ms
`

// TestE2EGortmplibNames publishes H.264 + AAC with gortmplib (MediaMTX's
// RTMP client) in both URL forms it knows — the stream name as the last
// path element (gortmplib sends app "live/cam" and an empty name) and as
// the fragment (app "live", name "cam") — and reads it back with gortmplib
// in the same form, frame for frame, while ffprobe plays the same stream
// by its usual URL.
func TestE2EGortmplibNames(t *testing.T) {
	bin := tapedeckBinary(t)
	src := h264AACMedia(t)
	p := hardStart(t, bin, ertmpConfig)
	for _, tc := range []struct{ form, pubURL, playURL, stream string }{
		{"path", "/live/cam", "/live/cam", "live/cam"},
		{"fragment", "/live#frag", "/live#frag", "live/frag"},
		{"path with an instance", "/live/inst/cam", "/live/inst/cam", "live/inst/cam"},
	} {
		t.Run(strings.ReplaceAll(tc.form, " ", "_"), func(t *testing.T) {
			base := "rtmp://" + p.rtmpAddr
			// The reader is there before the publish, so it must get every frame.
			readDone := make(chan *gortReceived, 1)
			go func() { readDone <- gortRead(base+tc.playURL, 5*time.Second) }()
			time.Sleep(300 * time.Millisecond)
			pubDone := make(chan error, 1)
			go func() { pubDone <- gortPublish(t, base+tc.pubURL, src, 2) }()
			hardWaitPublishing(t, p, tc.stream, nil)
			probe := startProbe(t, "rtmp://"+p.rtmpAddr+"/"+tc.stream, 2)
			if err := <-pubDone; err != nil {
				t.Fatal(err)
			}
			got := <-readDone
			if got.err != nil {
				t.Fatal(got.err)
			}
			checkSameFrames(t, tc.form+" video", src.video, got.video, len(src.video))
			checkSameFrames(t, tc.form+" audio", src.audio, got.audio, len(src.audio)*3/4)
			res := parseProbe(t, probe)
			v, a := res.entries("frame", "video"), res.entries("frame", "audio")
			t.Logf("ffprobe on %s: %d video frames, %d audio frames", tc.stream, len(v), len(a))
			if len(v) < 40 || len(a) < 60 {
				t.Errorf("ffprobe decoded %d video and %d audio frames of %s, want at least 40 and 60", len(v), len(a), tc.stream)
			}
			if len(v) > 0 && !v[0].key {
				t.Errorf("ffprobe's first video frame is not a keyframe")
			}
			checkIncreasing(t, "ffprobe video pts", v, true, 0.5)
		})
	}
}
