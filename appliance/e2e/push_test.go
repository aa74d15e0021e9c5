//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// A reload adds a push target and changes the publish key while a stream
// runs: the stream reaches nginx, the running publish and its player never
// drop, and the new key governs new publishes. A push added through the
// API reaches nginx too and is removed again.
func TestE2EReloadAddsPushAndKey(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	port := testenv.StartNginx(t, false).RTMPPort
	dir := t.TempDir()
	write := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(yaml), 0o644)
		return p
	}
	base := "storage:\n  dir: " + filepath.Join(dir, "rec") + "\n"
	cfg1, err := appliance.LoadConfig(write("one.yaml", base+"apps:\n  live:\n    publish:\n      keys: [a]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg1.RTMP.Listen, cfg1.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	a, logs := apptest.StartConfig(t, cfg1)
	rtmpURL := "rtmp://" + a.RTMPAddr().String() + "/live/"

	pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(rtmpURL+"cam1?key=a", 22)...)
	testenv.Eventually(t, 10*time.Second, "the publish to start", func() bool {
		s := a.Hub().Lookup("live", "cam1")
		return s != nil && s.Stats().Publishing
	})
	player := startProbe(t, rtmpURL+"cam1", 18)

	time.Sleep(1500 * time.Millisecond)
	cfg2, err := appliance.LoadConfig(write("two.yaml", base+fmt.Sprintf(
		"apps:\n  live:\n    publish:\n      keys: [b]\n    push:\n      - name: nginx\n        url: rtmp://127.0.0.1:%d/live/{stream}\n"+
			// The API-added push below goes to nginx on loopback, which
			// relay.allow_targets refuses unless the owner lists it.
			"relay:\n  allow_targets:\n    hosts: [public, 127.0.0.1]\n", port)))
	if err != nil {
		t.Fatal(err)
	}
	cfg2.RTMP.Listen, cfg2.HTTP.Listen = cfg1.RTMP.Listen, cfg1.HTTP.Listen
	a.Reload(cfg2)

	// The stream arrives at nginx and decodes there.
	fromNginx := parseProbe(t, runTool(t, 30*time.Second, nil, "ffprobe", probeArgs(fmt.Sprintf("rtmp://127.0.0.1:%d/live/cam1", port), 5)...))
	// nginx makes a joiner wait up to one GOP (2 s) for a keyframe.
	checkNginxPlay(t, "pushed to nginx by reload", fromNginx, 50)

	// The old key no longer publishes; the new one does.
	if r := runTool(t, 20*time.Second, nil, "ffmpeg", publisherArgs(rtmpURL+"other?key=a", 2)...); r.err == nil {
		t.Errorf("publish with the replaced key a succeeded after reload")
	}
	if r := runTool(t, 20*time.Second, nil, "ffmpeg", publisherArgs(rtmpURL+"other?key=b", 2)...); r.err != nil {
		t.Errorf("publish with the new key b failed: %s", r.report())
	}

	// A push added through the API for this stream only.
	body := fmt.Sprintf(`{"name":"extra","url":"rtmp://127.0.0.1:%d/live/extra"}`, port)
	if code, out := postJSON(t, a, "/api/v1/streams/live/cam1/push", body); code != 201 {
		t.Fatalf("POST push = %d %s", code, out)
	}
	extra := parseProbe(t, runTool(t, 30*time.Second, nil, "ffprobe", probeArgs(fmt.Sprintf("rtmp://127.0.0.1:%d/live/extra", port), 5)...))
	checkNginxPlay(t, "pushed via API", extra, 50)
	if code, _, out := apptest.Do(t, a, "DELETE", "/api/v1/streams/live/cam1/push/extra", ""); code != 200 {
		t.Errorf("DELETE push = %d %s", code, out)
	}
	if _, _, out := apptest.Do(t, a, "GET", "/api/v1/streams/live/cam1", ""); strings.Contains(out, `"extra"`) || !strings.Contains(out, `"nginx"`) {
		t.Errorf("after DELETE the stream's relays are wrong:\n%s", out)
	}

	// The original publish and its player ran through all of it.
	pub.wait()
	if pub.err != nil {
		t.Errorf("publisher dropped: %s", pub.report())
	}
	got := parseProbe(t, player)
	checkMedia(t, "player across the reload", got, mediaExpect{minVideoFrames: 400, minSpan: 16.5})
	_ = logs
}

// checkNginxPlay checks what ffprobe read back from nginx. nginx-rtmp has
// no GOP cache (its players wait for the next keyframe), so only the
// decodable start, monotonic video and a frame count are asserted.
func checkNginxPlay(t testing.TB, label string, p *probeResult, minFrames int) {
	t.Helper()
	video := p.entries("frame", "video")
	if len(video) < minFrames {
		t.Errorf("%s: %d video frames decoded from nginx, want at least %d", label, len(video), minFrames)
		return
	}
	if !video[0].key {
		t.Errorf("%s: first video frame from nginx is not a keyframe", label)
	}
	checkIncreasing(t, label, video, true, 0.5)
	if len(p.entries("frame", "audio")) == 0 {
		t.Errorf("%s: no audio from nginx", label)
	}
}

// postJSON POSTs a JSON body and returns the status and body.
func postJSON(t testing.TB, a *appliance.Appliance, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+a.HTTPAddr().String()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
