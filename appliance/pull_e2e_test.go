package appliance_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// A stream pulled from another RTMP server is recorded and played like a
// publish: box B pulls live/cam1 from box A (where ffmpeg publishes), and
// B's players and B's recording both get it.
func TestE2EPullIsRecordedAndPlayed(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	a, err := newTestServer()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	pub := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(a.url("live", "cam1"), 12)...)
	a.waitPublishing(t, "live", "cam1", pub, 10*time.Second)

	dir := t.TempDir()
	yaml := fmt.Sprintf("storage:\n  dir: %s\napps:\n  cams:\n    record:\n      format: fmp4\n    pull:\n      Door:\n        url: %s\n",
		filepath.Join(dir, "rec"), a.url("live", "cam1"))
	p := filepath.Join(dir, "b.yaml")
	os.WriteFile(p, []byte(yaml), 0o644)
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RTMP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", ""
	b := appliance.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(5 * time.Second)

	deadline := time.Now().Add(10 * time.Second)
	for {
		if s := b.Hub().Lookup("cams", "Door"); s != nil && s.Stats().Publishing && s.Stats().VideoCodec != 0 {
			if got := s.Stats().Source; got[:5] != "rtmp " {
				t.Errorf("pulled stream's source = %q, want rtmp ...", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("box B never pulled cams/Door")
		}
		time.Sleep(100 * time.Millisecond)
	}
	played := parseProbe(t, startProbe(t, "rtmp://"+b.RTMPAddr().String()+"/cams/Door", 4))
	checkMedia(t, "played from the pulling box", played, mediaExpect{minVideoFrames: 80, minSpan: 3.5})
	segs := findSegments(t, filepath.Join(dir, "rec", "cams", "Door"))
	if len(segs) != 1 {
		t.Fatalf("recordings of the pulled stream: %v, want one segment", segs)
	}
}
