//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// startPullingBox starts a second appliance ("box B") on the config yaml,
// written to path; it is shut down when the test ends.
func startPullingBox(t *testing.T, path, yaml string) *appliance.Appliance {
	t.Helper()
	return startServer(t, loadYAML(t, path, yaml)).a
}

// startUpstreamBox starts box A, the server the pulling box pulls from,
// with ffmpeg publishing seconds of live/cam1 to it (killed after limit),
// and waits until the stream is live there. The pull tests play with
// ffprobe, so both tools are needed.
func startUpstreamBox(t *testing.T, seconds int, limit time.Duration) (*testServer, *toolRun) {
	t.Helper()
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	a := startTestServer(t)
	pub := startTool(t, limit, nil, "ffmpeg", publisherArgs(a.url("live", "cam1"), seconds)...)
	a.waitPublishing(t, "live", "cam1", pub, 10*time.Second)
	return a, pub
}

// A stream pulled from another RTMP server is recorded and played like a
// publish: box B pulls live/cam1 from box A (where ffmpeg publishes), and
// B's players and B's recording both get it.
func TestE2EPullIsRecordedAndPlayed(t *testing.T) {
	a, pub := startUpstreamBox(t, 12, 30*time.Second)

	dir := t.TempDir()
	yaml := fmt.Sprintf("storage:\n  dir: %s\napps:\n  cams:\n    record:\n      format: fmp4\n    pull:\n      Door:\n        url: %s\n",
		filepath.Join(dir, "rec"), a.url("live", "cam1"))
	b := startPullingBox(t, filepath.Join(dir, "b.yaml"), yaml)

	if got := waitVideo(t, b, "cams", "Door", pub, 10*time.Second).Source; !strings.HasPrefix(got, "rtmp ") {
		t.Errorf("pulled stream's source = %q, want rtmp ...", got)
	}
	played := parseProbe(t, startProbe(t, "rtmp://"+b.RTMPAddr().String()+"/cams/Door", 4))
	checkMedia(t, "played from the pulling box", played, mediaExpect{minVideoFrames: 80, minSpan: 3.5})
	segs := findSegments(t, filepath.Join(dir, "rec", "cams", "Door"))
	if len(segs) != 1 {
		t.Fatalf("recordings of the pulled stream: %v, want one segment", segs)
	}
}

// An on-demand pull (apps.<app>.pull.<stream>.on_demand) holds nothing
// open upstream until a real player asks: ffprobe's play on box B starts
// B's pull of box A's stream, the player gets the stream, and when it
// leaves B lets go of A after close_after.
func TestE2EOnDemandPull(t *testing.T) {
	a, _ := startUpstreamBox(t, 30, 40*time.Second)
	upstreamPlayers := func() int { st, _ := a.stats("live", "cam1"); return st.Players }

	dir := t.TempDir()
	yaml := fmt.Sprintf("storage:\n  dir: %s\napps:\n  cams:\n    record:\n      enabled: false\n    pull:\n      Door:\n        url: %s\n        on_demand: true\n        close_after: 1s\n",
		filepath.Join(dir, "rec"), a.url("live", "cam1"))
	b := startPullingBox(t, filepath.Join(dir, "b.yaml"), yaml)

	time.Sleep(time.Second)
	if n := upstreamPlayers(); n != 0 {
		t.Fatalf("box B holds %d plays on box A before anyone watched", n)
	}
	if s := b.Hub().Lookup("cams", "Door"); s != nil && s.Stats().Publishing {
		t.Fatal("cams/Door is live on box B before anyone watched")
	}
	played := parseProbe(t, startProbe(t, "rtmp://"+b.RTMPAddr().String()+"/cams/Door", 3))
	checkMedia(t, "played on demand", played, mediaExpect{minVideoFrames: 50, minSpan: 2.5})
	deadline := time.Now().Add(5 * time.Second)
	for upstreamPlayers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("box B still plays box A's stream 5 s after its only player left (close_after 1s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
