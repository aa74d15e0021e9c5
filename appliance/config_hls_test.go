package appliance_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

func TestConfigHLSDefaults(t *testing.T) {
	cfg, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	want := appliance.HLSConfig{Enabled: true, PartDuration: 200 * time.Millisecond, SegmentDuration: time.Second,
		SegmentCount: 7, MaxStreamBytes: 16 << 20, IdleTimeout: 30 * time.Second, MaxStreams: 32}
	if cfg.HTTP.HLS != want {
		t.Errorf("http.hls defaults %+v, want %+v", cfg.HTTP.HLS, want)
	}
}

func TestConfigHLSProblemsNameKeyAndFile(t *testing.T) {
	p := writeConfig(t, "hls.yaml", `
http:
  hls:
    part_duration: 10ms
    segment_duration: 1m
    segment_count: 1
    max_stream_bytes: 1KB
    idle_timeout: 0s
    max_streams: 0
`)
	ce := loadProblems(t, p)
	msg := ce.Error()
	for _, key := range []string{"part_duration", "segment_duration", "segment_count", "max_stream_bytes", "idle_timeout", "max_streams"} {
		if !strings.Contains(msg, p+": http.hls."+key+": ") {
			t.Errorf("no problem named %s in %s:\n%s", key, p, msg)
		}
	}
	if n := len(ce.Problems); n != 6 {
		t.Errorf("%d problems, want 6:\n%s", n, msg)
	}
}
