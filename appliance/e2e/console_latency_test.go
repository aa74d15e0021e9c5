//go:build linux

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// consoleTokenConfig is a box that only the token opens, recording
// nothing.
const consoleTokenConfig = `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
  token: "` + consoleToken + `"
storage:
  dir: "{storage}"
apps:
  live:
    republish_grace: 0s
`

// consoleSignInToken opens the console at base and signs in with the
// token, waiting until the element of waitFor is visible.
func consoleSignInToken(t *testing.T, ctx context.Context, base, waitFor string) {
	t.Helper()
	browse(t, ctx, 30*time.Second, "sign in with the token", chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Click(chromedp.CSS("#login-switch")),
		chromedp.SendKeys(chromedp.CSS("input[name=token]"), consoleToken),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

// consoleLatencySample is the page's measurement: every 250 ms for 10 s,
// the wall clock less the program date-time of the picture on screen
// (hls.js maps EXT-X-PROGRAM-DATE-TIME, which the muxer writes from the
// time each frame reached the box, to the playing position), and
// hls.js's own latency estimate (live edge less the position).
const consoleLatencySample = `(async () => {
	const h = window.tapedeckHls("live/cam1"), v = document.querySelector('video[data-live="live/cam1"]');
	const out = {g2g: [], hls: [], start: v.currentTime, end: 0};
	for (let i = 0; i < 40; i++) {
		await new Promise(r => setTimeout(r, 250));
		const d = h && h.playingDate;
		if (!d) return {error: "no playingDate (no PROGRAM-DATE-TIME?)"};
		out.g2g.push(Date.now() - d.getTime());
		out.hls.push(Math.round(h.latency * 1000));
	}
	out.end = v.currentTime;
	return out;
})()`

type consoleLatency struct {
	Error string    `json:"error"`
	G2G   []float64 `json:"g2g"` // ms
	HLS   []float64 `json:"hls"` // ms
	Start float64   `json:"start"`
	End   float64   `json:"end"`
}

// durationsMS turns milliseconds into durations.
func durationsMS(ms []float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, x := range ms {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}

// TestE2EConsoleLatency measures glass-to-glass in Chromium: ffmpeg
// publishes in real time (-re) to the built binary, the console's live
// <video> plays it over LL-HLS with hls.js, and for 10 s the page samples
// how far behind the wall clock the picture on screen is. What is
// counted: from a frame reaching the box's RTMP ingest to that frame
// being the one displayed (the box, the HTTP transfer, hls.js's buffer
// and the decoder), not the encoder's own delay. The goal is
// p95 ≤ 2 s.
func TestE2EConsoleLatency(t *testing.T) {
	bin := tapedeckBinary(t)
	chromium := testenv.NeedTool(t, "chromium")
	testenv.NeedTool(t, "ffmpeg")
	p := hardStart(t, bin, consoleTokenConfig)
	bearer := map[string]string{"Authorization": "Bearer " + consoleToken}
	startTool(t, 2*time.Minute, nil, "ffmpeg", publisherArgs("rtmp://"+p.rtmpAddr+"/live/cam1", 90)...)
	hardWaitPublishing(t, p, "live/cam1", bearer)
	ctx := consoleBrowser(t, chromium)
	consoleSignInToken(t, ctx, "http://"+p.httpAddr, `article[data-stream="live/cam1"]`)
	pollIn[float64](t, ctx, 60*time.Second, "the live <video> plays past 2 s",
		`(v => v && v.currentTime > 2 && v.videoWidth === 640 && v.currentTime)(document.querySelector('video[data-live="live/cam1"]'))`)

	m := evalIn[consoleLatency](t, ctx, consoleLatencySample)
	if m.Error != "" {
		t.Fatal(m.Error)
	}
	if m.End-m.Start < 8 {
		t.Errorf("the live <video> played %.1f s of the 10 s sampled (stalled)", m.End-m.Start)
	}
	g2g, hl := durationsMS(m.G2G), durationsMS(m.HLS)
	g50, g95, gmax := percentile(g2g, 50), percentile(g2g, 95), percentile(g2g, 100)
	t.Logf("glass-to-glass (ingest to display) over %d samples in 10 s: median %v, p95 %v, max %v; hls.js latency: median %v, p95 %v",
		len(g2g), g50, g95, gmax, percentile(hl, 50), percentile(hl, 95))
	t.Logf("samples (ms): %v", m.G2G)
	if g95 > 2*time.Second {
		t.Errorf("glass-to-glass p95 %v, want ≤ 2 s (issue 18)", g95)
	}
	if g50 <= 0 {
		t.Errorf("glass-to-glass median %v: the picture is ahead of the wall clock, the program date-time is wrong", g50)
	}
}
