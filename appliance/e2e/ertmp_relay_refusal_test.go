//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// relayTargetOf returns the push target named target of app/stream as
// GET /api/v1/streams lists it (nil when the stream or target is absent).
func relayTargetOf(t *testing.T, p *hardProc, app, stream, target string) map[string]any {
	t.Helper()
	code, body := hardRequest(t, "GET", "http://"+p.httpAddr+"/api/v1/streams", nil, "")
	if code != 200 {
		t.Fatalf("GET /api/v1/streams: %d %s", code, body)
	}
	var list []struct {
		App, Name string
		Relays    []map[string]any
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /api/v1/streams: %v\n%s", err, body)
	}
	for _, s := range list {
		if s.App != app || s.Name != stream {
			continue
		}
		for _, r := range s.Relays {
			if r["Name"] == target {
				return r
			}
		}
	}
	return nil
}

// relayMetric is the value of a tapedeck_relay_* series of one push
// target in /metrics, or -1 when it is absent.
func relayMetric(t *testing.T, p *hardProc, name, stream, target string) float64 {
	t.Helper()
	_, metrics := hardRequest(t, "GET", "http://"+p.httpAddr+"/metrics", nil, "")
	series := fmt.Sprintf(`%s{app="live",stream=%q,target=%q} `, name, stream, target)
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, series); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// TestE2EHEVCRelayRefusedByNginx: nginx-rtmp's connect reply announces no
// Enhanced RTMP codec, so tapedeck does not push an HEVC stream
// (gortmplib publishing libx265 output) to it: nginx never sees a publish
// of it, GET /api/v1/streams reports the target incompatible with why, and
// tapedeck_relay_refusals_total counts it, while an H.264 stream (ffmpeg)
// pushed to the same nginx plays from there. When the HEVC publisher
// comes back, within the grace period, as H.264, the same push is
// re-evaluated and goes through.
func TestE2EHEVCRelayRefusedByNginx(t *testing.T) {
	bin := tapedeckBinary(t)
	ng := testenv.StartNginx(t, false)
	src := hevcAACMedia(t)
	p := hardStart(t, bin, strings.Replace(ertmpConfig, "    record:\n",
		"    push:\n      - name: nginx\n        url: "+ng.URL("{stream}")+"\n    record:\n", 1))
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+p.rtmpAddr+"/live/cam", 30)...)

	published := make(chan error, 1)
	go func() { published <- gortPublish(t, "rtmp://"+p.rtmpAddr+"/live/hevc", src, 1) }()
	var hevc map[string]any
	testenv.Eventually(t, 10*time.Second, "the HEVC push reported incompatible", func() bool {
		hevc = relayTargetOf(t, p, "live", "hevc", "nginx")
		return hevc != nil && hevc["State"] == "incompatible"
	})
	if hevc["Refused"] != "hvc1" || !strings.Contains(fmt.Sprint(hevc["LastError"]), "upstream does not accept hvc1") {
		t.Errorf("HEVC push target in the API: %v; want Refused hvc1 and a LastError saying the upstream does not accept hvc1", hevc)
	}
	if v := relayMetric(t, p, "tapedeck_relay_refusals_total", "hevc", "nginx"); v != 1 {
		t.Errorf("tapedeck_relay_refusals_total of the HEVC push = %v, want 1", v)
	}
	if v := relayMetric(t, p, "tapedeck_relay_up", "hevc", "nginx"); v != 0 {
		t.Errorf("tapedeck_relay_up of the HEVC push = %v, want 0", v)
	}

	// H.264 to the same nginx goes through and plays from nginx.
	testenv.Eventually(t, 10*time.Second, "the H.264 push live", func() bool {
		return relayMetric(t, p, "tapedeck_relay_up", "cam", "nginx") == 1
	})
	res := parseProbe(t, startProbe(t, ng.URL("cam"), 2))
	if v := res.entries("frame", "video"); len(v) < 25 || !v[0].key {
		t.Errorf("ffprobe of the H.264 stream from nginx: %d video frames (first key %v), want 25+ from a keyframe", len(v), len(v) > 0 && v[0].key)
	}
	if v := relayMetric(t, p, "tapedeck_relay_refusals_total", "cam", "nginx"); v != 0 {
		t.Errorf("tapedeck_relay_refusals_total of the H.264 push = %v, want 0", v)
	}

	if err := <-published; err != nil {
		t.Fatal(err)
	}
	log := ng.ErrorLog()
	if !strings.Contains(log, "publish: name='cam'") {
		t.Errorf("nginx logged no publish of cam:\n%s", testenv.Tail(log, 20))
	}
	if strings.Contains(log, "name='hevc'") {
		t.Errorf("nginx saw a publish or play of the HEVC stream:\n%s", grepLines(log, "hevc"))
	}

	// The HEVC publisher comes back with H.264 within republish_grace: the
	// same pusher (one refusal counted) takes it to nginx.
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+p.rtmpAddr+"/live/hevc", 20)...)
	testenv.Eventually(t, 10*time.Second, "the push of the republished stream live", func() bool {
		r := relayTargetOf(t, p, "live", "hevc", "nginx")
		return r != nil && r["State"] == "live"
	})
	if r := relayTargetOf(t, p, "live", "hevc", "nginx"); r["Refused"] != nil || r["Refusals"] != 1.0 {
		t.Errorf("after the republish as H.264: %v, want nothing refused now and the one refusal still counted", r)
	}
	res = parseProbe(t, startProbe(t, ng.URL("hevc"), 2))
	codecs := ""
	for _, st := range res.Streams {
		codecs += st.CodecName + " "
	}
	if v := res.entries("frame", "video"); len(v) < 25 || !strings.Contains(codecs, "h264") {
		t.Errorf("ffprobe of the republished stream from nginx: %d video frames, codecs %s; want 25+ of h264", len(v), codecs)
	}
}
