//go:build linux

package e2e

// Publish and play authorization (keys, allowed networks, webhooks) and
// reload, with ffmpeg and ffprobe as the RTMP clients.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/rtmp"
)

// startClient starts name with args under a deadline of limit (see
// startTool).
func startClient(t testing.TB, limit time.Duration, name string, args ...string) *toolRun {
	t.Helper()
	testenv.NeedTool(t, name)
	return startTool(t, limit, nil, name, args...)
}

// publishPattern starts ffmpeg publishing seconds of 320x240 test video at
// 25 fps (one keyframe a second) to url in real time.
// Extra output options go before the URL.
func publishPattern(t testing.TB, url string, seconds int, extra ...string) *toolRun {
	t.Helper()
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"}
	args = append(append(args, extra...), "-f", "flv", url)
	return startClient(t, time.Duration(seconds+20)*time.Second, "ffmpeg", args...)
}

// startFrameCount starts ffprobe counting the decoded video frames of url until
// the stream ends.
func startFrameCount(t testing.TB, url string) *toolRun {
	t.Helper()
	return startClient(t, 30*time.Second, "ffprobe",
		"-hide_banner", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url)
}

// frames returns the frame count of a finished, successful ffprobe run.
func (r *toolRun) frames(t testing.TB) int {
	t.Helper()
	r.wait()
	if r.err != nil {
		t.Fatalf("ffprobe failed:\n%s", r.report())
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.stdout.String()))
	if err != nil {
		t.Fatalf("ffprobe printed no frame count:\n%s", r.report())
	}
	return n
}

// checkRefused checks that a client run fails on its own, quickly.
func checkRefused(t testing.TB, what string, r *toolRun) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.stop()
		t.Errorf("%s: still running after 5 s, want it refused at once:\n%s", what, r.report())
		return
	}
	if r.err == nil {
		t.Errorf("%s: succeeded, want it refused:\n%s", what, r.report())
	}
}

func checkNotPublishing(t testing.TB, a *appliance.Appliance, app, name string) {
	t.Helper()
	if s := a.Hub().Lookup(app, name); s != nil && s.Stats().Publishing {
		t.Errorf("%s/%s is publishing, want it refused", app, name)
	}
}

func streamURL(a *appliance.Appliance, path string) string {
	return "rtmp://" + a.RTMPAddr().String() + "/" + path
}

func TestAuthKeys(t *testing.T) {
	t.Parallel()
	a, logs := apptest.Start(t, func(c *appliance.Config) {
		c.Apps["live"] = appliance.AppConfig{
			GOPCache: true,
			Publish:  appliance.AccessConfig{Keys: []string{"pub1"}},
			Play:     appliance.AccessConfig{Keys: []string{"play1"}},
		}
	})

	checkRefused(t, "publish without a key", publishPattern(t, streamURL(a, "live/cam1"), 3))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam1", "key required")
	checkRefused(t, "publish with a wrong key", publishPattern(t, streamURL(a, "live/cam1?key=wrong"), 3))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam1", "wrong key")
	checkRefused(t, "publish with the play key", publishPattern(t, streamURL(a, "live/cam1?key=play1"), 3))
	checkNotPublishing(t, a, "live", "cam1")

	pub := publishPattern(t, streamURL(a, "live/cam1?key=pub1"), 3)
	waitVideo(t, a, "live", "cam1", pub, 10*time.Second)
	good := startFrameCount(t, streamURL(a, "live/cam1?key=play1"))

	checkRefused(t, "play without a key", startFrameCount(t, streamURL(a, "live/cam1")))
	logs.WaitLine(t, time.Second, "play refused", "stream=cam1", "key required")
	checkRefused(t, "play with a wrong key", startFrameCount(t, streamURL(a, "live/cam1?key=nope")))
	logs.WaitLine(t, time.Second, "play refused", "stream=cam1", "wrong key")
	checkRefused(t, "play with the publish key", startFrameCount(t, streamURL(a, "live/cam1?key=pub1")))

	if pub.wait(); pub.err != nil {
		t.Errorf("publisher with the right key failed:\n%s", pub.report())
	}
	if n := good.frames(t); n < 25 {
		t.Errorf("player with the play key decoded %d frames, want >= 25 (a second of video)\n%s", n, good.report())
	}
}

// The key may come with the app (and so the tcUrl) instead of the stream name.
func TestAuthKeyInTcURL(t *testing.T) {
	t.Parallel()
	a, logs := apptest.Start(t, func(c *appliance.Config) {
		c.Apps["live"] = appliance.AppConfig{Publish: appliance.AccessConfig{Keys: []string{"pub1"}}}
	})
	root := "rtmp://" + a.RTMPAddr().String() + "/"
	checkRefused(t, "publish with a wrong key in the tcUrl",
		publishPattern(t, root, 2, "-rtmp_app", "live?key=nope", "-rtmp_playpath", "cam1"))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam1", "wrong key")
	pub := publishPattern(t, root, 2, "-rtmp_app", "live?key=pub1", "-rtmp_playpath", "cam1")
	waitVideo(t, a, "live", "cam1", pub, 10*time.Second)
}

func TestAuthUnconfiguredApp(t *testing.T) {
	t.Parallel()
	a, logs := apptest.Start(t, nil)
	checkRefused(t, "publish to app other", publishPattern(t, streamURL(a, "other/x"), 3))
	logs.WaitLine(t, time.Second, "rtmp connect rejected", `app \"other\" is not configured`)
	checkRefused(t, "play from app other", startFrameCount(t, streamURL(a, "other/x")))
	checkNotPublishing(t, a, "other", "x")
}

// hookReceiver is a webhook receiver answering with a settable status.
type hookReceiver struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	events []map[string]any
}

func newHookReceiver(t testing.TB) *hookReceiver {
	h := &hookReceiver{}
	h.status.Store(http.StatusOK)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev := map[string]any{}
		if err := json.Unmarshal(body, &ev); err != nil || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/hook" {
			ev = map[string]any{"bad request": fmt.Sprintf("%s %s %s: %s", r.Method, r.URL, r.Header.Get("Content-Type"), body)}
		}
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) snapshot() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.events...)
}

// checkEvent checks one webhook call.
func checkHookEvent(t testing.TB, ev map[string]any, action string) {
	t.Helper()
	q, _ := ev["query"].(map[string]any)
	addr, _ := ev["addr"].(string)
	if ev["action"] != action || ev["app"] != "live" || ev["stream"] != "cam1" ||
		len(q) != 1 || q["key"] != "hk" || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("webhook event %v, want action %s, app live, stream cam1, query {key: hk}, addr 127.0.0.1:PORT", ev, action)
	}
}

func TestAuthWebhook(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver(t)
	a, logs := apptest.Start(t, func(c *appliance.Config) {
		c.Webhooks.OnPublish = hook.srv.URL + "/hook"
		c.Webhooks.OnPublishDone = hook.srv.URL + "/hook"
		c.Webhooks.Timeout = 2 * time.Second
	})

	hook.status.Store(http.StatusForbidden)
	checkRefused(t, "publish the webhook answers 403 to", publishPattern(t, streamURL(a, "live/cam1?key=hk"), 3))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam1", "webhook publish answered 403 Forbidden")
	checkNotPublishing(t, a, "live", "cam1")
	evs := hook.snapshot()
	if len(evs) != 1 {
		t.Fatalf("webhook calls after a refused publish: %v, want 1", evs)
	}
	checkHookEvent(t, evs[0], "publish")

	hook.status.Store(http.StatusOK)
	pub := publishPattern(t, streamURL(a, "live/cam1?key=hk"), 3)
	waitVideo(t, a, "live", "cam1", pub, 10*time.Second)
	evs = hook.snapshot()
	if len(evs) != 2 {
		t.Fatalf("webhook calls after an accepted publish: %v, want 2", evs)
	}
	checkHookEvent(t, evs[1], "publish")

	pub.stop()
	testenv.Eventually(t, 3*time.Second, "the publish_done webhook", func() bool { return len(hook.snapshot()) >= 3 })
	evs = hook.snapshot()
	if len(evs) != 3 {
		t.Fatalf("webhook calls after the publish ended: %v, want 3", evs)
	}
	checkHookEvent(t, evs[2], "publish_done")
}

// A webhook that does not answer in time refuses the publish.
func TestAuthWebhookTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	a, logs := apptest.Start(t, func(c *appliance.Config) {
		c.Webhooks.OnPublish = slow.URL
		c.Webhooks.Timeout = 300 * time.Millisecond
	})
	checkRefused(t, "publish with a webhook that does not answer", publishPattern(t, streamURL(a, "live/cam1"), 3))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam1", "context deadline exceeded")
}

func TestAuthAllow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		allow   []string
		allowed bool
	}{
		{[]string{"10.0.0.0/8"}, false},
		{[]string{"10.0.0.0/8", "127.0.0.1"}, true},
		{[]string{"127.0.0.0/8"}, true},
		{[]string{"::1"}, false},
	} {
		t.Run(strings.Join(c.allow, ","), func(t *testing.T) {
			t.Parallel()
			a, logs := apptest.Start(t, func(cfg *appliance.Config) {
				live := cfg.Apps["live"]
				live.Publish.Allow = c.allow
				cfg.Apps["live"] = live
			})
			pub := publishPattern(t, streamURL(a, "live/cam1"), 3)
			if !c.allowed {
				checkRefused(t, "publish from 127.0.0.1", pub)
				logs.WaitLine(t, time.Second, "publish refused", "address 127.0.0.1 not allowed")
				checkNotPublishing(t, a, "live", "cam1")
				return
			}
			waitVideo(t, a, "live", "cam1", pub, 10*time.Second)
		})
	}
}

// A config file that defines only a locked-down app replaces the default,
// open "live" app (see TestConfigAppsReplaceDefault in appliance): nobody
// can publish to rtmp://box/live/anything, because the connect to live is
// refused.
func TestAuthFileAppsCloseLive(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "tapedeck.yaml")
	os.WriteFile(p, []byte("apps:\n  cam:\n    publish:\n      keys: [k]\n"), 0o644)
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RTMP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Storage.Dir = t.TempDir()
	a, _ := apptest.StartConfig(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The embedded default apps (live among them) give way to the file's:
	// the connect to live is refused as that of any unconfigured app.
	c, _, err := rtmp.Dial(ctx, streamURL(a, "live/x"), rtmp.ClientConfig{Timeout: 5 * time.Second})
	if err == nil {
		c.Close()
		t.Fatalf("connect to app live accepted, though the file's only app is cam (apps in force: %v)", slices.Sorted(maps.Keys(a.Config().Apps)))
	}
	if !strings.Contains(err.Error(), "NetConnection.Connect.Rejected") || !strings.Contains(err.Error(), `app "live" is not configured`) {
		t.Fatalf("connect to live/x: %v; want NetConnection.Connect.Rejected for app \"live\" not configured", err)
	}
}

// Reload changes the keys for new publishes only: a running publish and its
// player continue to the end.
func TestAuthReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := func(name, key string) *appliance.Config {
		t.Helper()
		p := filepath.Join(dir, name)
		text := "rtmp:\n  listen: \"127.0.0.1:0\"\nhttp:\n  listen: \"127.0.0.1:0\"\n" +
			"apps:\n  live:\n    republish_grace: 0s\n    publish:\n      keys: [" + key + "]\n"
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := appliance.LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg1 := conf("one.yaml", "a")
	cfg2 := conf("two.yaml", "b")
	a, logs := apptest.StartConfig(t, cfg1)

	const seconds = 6
	pub := publishPattern(t, streamURL(a, "live/cam1?key=a"), seconds)
	waitVideo(t, a, "live", "cam1", pub, 10*time.Second)
	published := time.Now()
	player := startFrameCount(t, streamURL(a, "live/cam1"))
	joined := time.Now()
	testenv.Eventually(t, 5*time.Second, "the player to attach", func() bool {
		s := a.Hub().Lookup("live", "cam1")
		return s != nil && s.Stats().Subscribers >= 1
	})
	time.Sleep(500 * time.Millisecond)

	a.Reload(cfg2)
	if a.Config() != cfg2 {
		t.Errorf("Config() after Reload is not the new config")
	}
	logs.WaitLine(t, time.Second, "configuration reloaded", "source="+cfg2.Source)
	if strings.Contains(logs.String(), "take effect after a restart") {
		t.Errorf("reload with the same listeners warned about a restart")
	}

	checkRefused(t, "publish with the old key after the reload", publishPattern(t, streamURL(a, "live/cam2?key=a"), 2))
	logs.WaitLine(t, time.Second, "publish refused", "stream=cam2", "wrong key")
	checkNotPublishing(t, a, "live", "cam2")
	pubB := publishPattern(t, streamURL(a, "live/cam3?key=b"), 2)
	waitVideo(t, a, "live", "cam3", pubB, 10*time.Second)

	// The stream published with the old key was not touched.
	if s := a.Hub().Lookup("live", "cam1"); s == nil || !s.Stats().Publishing || pub.exited() {
		t.Errorf("live/cam1 stopped at the reload:\n%s", pub.report())
	}
	if pub.wait(); pub.err != nil || pub.elapsed < (seconds-1)*time.Second {
		t.Errorf("publisher from before the reload did not run to the end:\n%s", pub.report())
	}
	n := player.frames(t)
	// The player joined at most a GOP (1 s) before its join time thanks to
	// the GOP cache; it must see (nearly) everything after.
	expect := 25 * (float64(seconds) - joined.Sub(published).Seconds())
	if float64(n) < 0.8*expect {
		t.Errorf("player decoded %d frames, want >= 80%% of %.0f\n%s", n, expect, player.report())
	}
	t.Logf("player decoded %d frames (expected about %.0f)", n, expect)
}
