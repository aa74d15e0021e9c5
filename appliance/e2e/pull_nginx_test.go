//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// A stream pulled from a server we did not write — nginx-rtmp, with
// ffmpeg publishing to it — is live on tapedeck for ffprobe and lands in
// a recording that decodes, like a camera or a publish.
func TestE2EPullFromNginxRTMP(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	ngx := testenv.StartNginx(t, false)
	pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(ngx.URL("cam"), 10)...)

	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	yaml := fmt.Sprintf("storage:\n  dir: %s\nrelay:\n  min_backoff: 200ms\n  max_backoff: 1s\napps:\n  cams:\n    record:\n      format: fmp4\n    pull:\n      gate:\n        url: %s\n",
		rec, ngx.URL("cam?token=hidden"))
	b := startPullingBox(t, filepath.Join(dir, "b.yaml"), yaml)

	if src := waitVideo(t, b, "cams", "gate", pub, 15*time.Second).Source; strings.Contains(src, "hidden") {
		t.Errorf("the pull's source %q shows the token", src)
	}
	played := parseProbe(t, startProbe(t, "rtmp://"+b.RTMPAddr().String()+"/cams/gate", 4))
	checkMedia(t, "pulled from nginx-rtmp, played from tapedeck", played, mediaExpect{minVideoFrames: 80, minSpan: 3.5})

	if err := b.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	segs := findSegments(t, filepath.Join(rec, "cams", "gate"))
	if len(segs) != 1 {
		t.Fatalf("recordings of the stream pulled from nginx: %v, want one segment", segs)
	}
	recorded := parseProbe(t, startProbe(t, segs[0], 0))
	checkMedia(t, "recording of the pull from nginx-rtmp", recorded, mediaExpect{minVideoFrames: 80, minSpan: 3.5})
}

// An rtmps:// pull from a server whose certificate comes from a private
// CA (nginx's stream module terminating TLS in front of nginx-rtmp) works
// with that CA in relay.ca_file, the CA file push targets use too.
func TestE2EPullFromNginxRTMPS(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	ngx := testenv.StartNginx(t, true)
	pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(ngx.URL("cam"), 10)...)

	dir := t.TempDir()
	yaml := fmt.Sprintf("storage:\n  dir: %s\nrelay:\n  min_backoff: 200ms\n  max_backoff: 1s\n  ca_file: %s\napps:\n  cams:\n    pull:\n      gate:\n        url: rtmps://localhost:%d/live/cam\n",
		filepath.Join(dir, "rec"), ngx.CAFile, ngx.TLSPort)
	b := startPullingBox(t, filepath.Join(dir, "b.yaml"), yaml)

	waitVideo(t, b, "cams", "gate", pub, 15*time.Second)
	played := parseProbe(t, startProbe(t, "rtmp://"+b.RTMPAddr().String()+"/cams/gate", 3))
	checkMedia(t, "pulled from nginx over rtmps, played from tapedeck", played, mediaExpect{minVideoFrames: 60, minSpan: 2.5})
}
