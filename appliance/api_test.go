package appliance_test

// Black-box tests of the HTTP API, /metrics and /healthz, driven by the Go
// RTMP client publishing a synthetic stream (testenv's), on appliances
// started by apptest.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// apiStream mirrors the JSON of one stream in the API.
type apiStream struct {
	App         string    `json:"app"`
	Name        string    `json:"name"`
	Publishing  bool      `json:"publishing"`
	Source      string    `json:"source"`
	SourceKind  string    `json:"source_kind"`
	Since       time.Time `json:"since"`
	VideoCodec  string    `json:"video_codec"`
	AudioCodec  string    `json:"audio_codec"`
	Width       float64   `json:"width"`
	Height      float64   `json:"height"`
	FPS         float64   `json:"fps"`
	BitrateIn   float64   `json:"bitrate_in_bps"`
	BytesIn     uint64    `json:"bytes_in"`
	Subscribers int       `json:"subscribers"`
	Skips       uint64    `json:"skips"`
}

func listStreams(t testing.TB, a *appliance.Appliance, token string) []apiStream {
	t.Helper()
	code, hdr, body := apptest.Do(t, a, "GET", "/api/v1/streams", token)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/streams: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /api/v1/streams: Content-Type %q, want application/json", ct)
	}
	var list []apiStream
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /api/v1/streams: %v in %s", err, body)
	}
	return list
}

func findStream(list []apiStream, app, name string) (apiStream, bool) {
	for _, s := range list {
		if s.App == app && s.Name == name {
			return s, true
		}
	}
	return apiStream{}, false
}

// parseMetrics parses the Prometheus text format: series (name plus label
// set, as written) to value. It checks that every sample's family has
// HELP and TYPE lines before it.
func parseMetrics(t testing.TB, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	helped := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			helped[name] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if typ != "gauge" && typ != "counter" && typ != "summary" {
				t.Errorf("metrics: %s has type %q", name, typ)
			}
			typed[name] = true
			if typ == "summary" {
				typed[name+"_sum"], typed[name+"_count"] = true, true
				helped[name+"_sum"], helped[name+"_count"] = true, true
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Errorf("metrics: malformed line %q", line)
			continue
		}
		series, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Errorf("metrics: bad value in %q: %v", line, err)
			continue
		}
		name, _, _ := strings.Cut(series, "{")
		if !typed[name] || !helped[name] {
			t.Errorf("metrics: sample %q before its HELP/TYPE lines", line)
		}
		if _, dup := out[series]; dup {
			t.Errorf("metrics: series %s written twice", series)
		}
		out[series] = v
	}
	return out
}

// ---- synthetic RTMP stream ----

// startPublisher publishes url with the Go client and sends metadata,
// sequence headers and one GOP of fake frames with audio.
func startPublisher(t testing.TB, url string) *rtmp.Client {
	t.Helper()
	c := testenv.PublishRTMP(t, url)
	sendGOP(t, c, 0)
	return c
}

// sendGOP writes metadata, headers (at ts 0) and a keyframe, three
// inter frames and audio starting at ts.
func sendGOP(t testing.TB, c *rtmp.Client, ts uint32) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	defer c.SetWriteDeadline(time.Time{})
	msgs := []*remux.Message{}
	if ts == 0 {
		msgs = append(msgs,
			remux.NewMessage(remux.KindData, 0, testenv.Metadata(t)),
			remux.NewMessage(remux.KindVideo, 0, testenv.AVCHeader),
			remux.NewMessage(remux.KindAudio, 0, testenv.AACHeader),
		)
	}
	msgs = append(msgs, remux.NewMessage(remux.KindVideo, ts, testenv.AVCKeyframe))
	for i := uint32(1); i <= 3; i++ {
		msgs = append(msgs,
			remux.NewMessage(remux.KindAudio, ts+i*40-20, testenv.AACFrame),
			remux.NewMessage(remux.KindVideo, ts+i*40, testenv.AVCInterframe))
	}
	for _, m := range msgs {
		if err := c.WriteMedia(m); err != nil {
			t.Fatalf("WriteMedia %v@%d: %v", m.Kind, m.Timestamp, err)
		}
	}
}

// testPlayer plays url with the Go client; it counts video messages and
// delivers the error that ended the reads.
type testPlayer struct {
	c      *rtmp.Client
	video  atomic.Int64
	ended  chan error
	cancel context.CancelFunc
}

func startPlayer(t testing.TB, url string) *testPlayer {
	t.Helper()
	c := testenv.PlayRTMP(t, url)
	p := &testPlayer{c: c, ended: make(chan error, 1)}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	// A player the server keeps through the republish grace is still
	// reading when the test ends: stop the reader before PlayRTMP's
	// cleanup closes the client (cleanups run last-in first-out), or the
	// two race on the chunk reader.
	done := make(chan struct{})
	t.Cleanup(func() { c.NetConn().Close(); <-done })
	go func() {
		defer close(done)
		for {
			m, err := c.ReadMedia()
			if err != nil {
				p.ended <- err
				return
			}
			if m.Kind == remux.KindVideo {
				p.video.Add(1)
			}
			m.Release()
		}
	}()
	return p
}

// ---- tests ----

func TestAPIStreamsMetricsKick(t *testing.T) {
	t.Parallel()
	const token = "t0k"
	a, logs := apptest.Start(t, func(c *appliance.Config) { c.HTTP.Token = token })
	base := "rtmp://" + a.RTMPAddr().String() + "/live/"

	pub := startPublisher(t, base+"cam1")
	player := startPlayer(t, base+"cam1")
	testenv.Eventually(t, 3*time.Second, "the player to receive video", func() bool { return player.video.Load() >= 1 })
	// More media after the player joined, so it is live and not only cached.
	sendGOP(t, pub, 200)

	// Authentication.
	for _, path := range []string{"/api/v1/streams", "/api/v1/streams/live/cam1", "/metrics"} {
		for _, tok := range []string{"", "wrong"} {
			code, hdr, body := apptest.Do(t, a, "GET", path, tok)
			if code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d %s, want 401", path, tok, code, body)
			}
			if got := hdr.Get("WWW-Authenticate"); got != `Bearer realm="tapedeck"` {
				t.Errorf("GET %s with token %q: WWW-Authenticate %q", path, tok, got)
			}
			if want := "{\n  \"error\": \"bearer token required\"\n}\n"; body != want {
				t.Errorf("GET %s with token %q: body %q, want %q", path, tok, body, want)
			}
		}
	}
	if code, _, body := apptest.Do(t, a, "POST", "/api/v1/streams/live/cam1/kick", ""); code != http.StatusUnauthorized {
		t.Errorf("kick without token: %d %s, want 401", code, body)
	}
	if code, _, body := apptest.Do(t, a, "GET", "/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz without token: %d %q, want 200 \"ok\\n\"", code, body)
	}

	// The stream list.
	var st apiStream
	testenv.Eventually(t, 3*time.Second, "stream stats with codecs and a subscriber", func() bool {
		var ok bool
		st, ok = findStream(listStreams(t, a, token), "live", "cam1")
		return ok && st.VideoCodec != "" && st.AudioCodec != "" && st.Subscribers >= 1
	})
	if !st.Publishing || st.VideoCodec != "avc1" || st.AudioCodec != "mp4a" ||
		st.Width != 640 || st.Height != 360 || st.FPS != 25 || st.Subscribers < 1 || st.BytesIn == 0 {
		t.Errorf("live/cam1 in the stream list: %+v\nwant publishing, avc1, mp4a, 640x360 at 25 fps, >= 1 subscriber, bytes_in > 0", st)
	}
	if st.SourceKind != "rtmp" || !strings.HasPrefix(st.Source, "rtmp 127.0.0.1:") {
		t.Errorf("live/cam1 source %q (kind %q), want \"rtmp 127.0.0.1:PORT\" (kind rtmp)", st.Source, st.SourceKind)
	}
	if st.Since.IsZero() || time.Since(st.Since) > time.Minute || st.BitrateIn <= 0 {
		t.Errorf("live/cam1 since %v, bitrate_in_bps %v: want a recent time and a positive rate", st.Since, st.BitrateIn)
	}
	code, _, body := apptest.Do(t, a, "GET", "/api/v1/streams/live/cam1", token)
	var one apiStream
	if code != http.StatusOK || json.Unmarshal([]byte(body), &one) != nil || one.Name != "cam1" || one.App != "live" || !one.Publishing {
		t.Errorf("GET /api/v1/streams/live/cam1: %d %s", code, body)
	}
	if code, _, body := apptest.Do(t, a, "GET", "/api/v1/streams/live/nope", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"no such stream\"\n}\n" {
		t.Errorf("GET of an unknown stream: %d %q, want 404 no such stream", code, body)
	}

	// Metrics.
	code, hdr, text := apptest.Do(t, a, "GET", "/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, text)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics: Content-Type %q", ct)
	}
	m := parseMetrics(t, text)
	checks := []struct {
		series string
		ok     func(float64) bool
		want   string
	}{
		{"tapedeck_rtmp_connections", func(v float64) bool { return v >= 2 }, ">= 2 (publisher and player)"},
		{"tapedeck_rtmp_connections_accepted_total", func(v float64) bool { return v >= 2 }, ">= 2"},
		{"tapedeck_rtmp_connections_refused_total", func(v float64) bool { return v == 0 }, "0"},
		{"tapedeck_rtmp_bytes_in_total", func(v float64) bool { return v > 0 }, "> 0"},
		{"tapedeck_rtmp_bytes_out_total", func(v float64) bool { return v > 0 }, "> 0"},
		{"tapedeck_streams", func(v float64) bool { return v == 1 }, "1"},
		{`tapedeck_stream_subscribers{app="live",stream="cam1"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{`tapedeck_stream_bytes_in_total{app="live",stream="cam1"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`tapedeck_stream_skips_total{app="live",stream="cam1"}`, func(v float64) bool { return v == 0 }, "0"},
		{`tapedeck_stream_held_bytes{app="live",stream="cam1"}`, func(v float64) bool { return v > 0 }, "> 0"},
		// Each connection has its reader at least: the two clients show.
		{"go_goroutines", func(v float64) bool { return v >= 2 }, ">= 2"},
	}
	for _, c := range checks {
		v, ok := m[c.series]
		if !ok {
			t.Errorf("metrics: no series %s in\n%s", c.series, text)
			continue
		}
		if !c.ok(v) {
			t.Errorf("metrics: %s = %v, want %s", c.series, v, c.want)
		}
	}

	// Kick: unknown stream and unknown action first.
	if code, _, body := apptest.Do(t, a, "POST", "/api/v1/streams/live/nope/kick", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"no such live stream\"\n}\n" {
		t.Errorf("kick of an unknown stream: %d %q, want 404 no such live stream", code, body)
	}
	if code, _, body := apptest.Do(t, a, "POST", "/api/v1/streams/live/cam1/explode", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"unknown action\"\n}\n" {
		t.Errorf("unknown action: %d %q, want 404 unknown action", code, body)
	}
	code, _, body = apptest.Do(t, a, "POST", "/api/v1/streams/live/cam1/kick", token)
	if code != http.StatusOK || body != "{\n  \"result\": \"kicked\",\n  \"reconnect_requested\": false\n}\n" {
		t.Fatalf("kick: %d %q, want 200 kicked, no reconnect requested", code, body)
	}
	kicked := time.Now()
	logs.WaitLine(t, 2*time.Second, "publisher kicked via API", "stream=cam1")

	// The publisher's connection is closed: reads see the end at once and
	// writes fail soon after (the first may still land in the socket buffer).
	pub.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, rerr := pub.NetConn().Read(make([]byte, 64<<10))
	var ne net.Error
	if rerr == nil || (errors.As(rerr, &ne) && ne.Timeout()) {
		t.Errorf("publisher read after kick: %v, want the connection closed within 2 s", rerr)
	}
	var werr error
	for time.Since(kicked) < 2*time.Second && werr == nil {
		pub.SetWriteDeadline(time.Now().Add(time.Second))
		werr = pub.WriteMedia(remux.NewMessage(remux.KindVideo, 400, testenv.AVCInterframe))
		time.Sleep(20 * time.Millisecond)
	}
	if werr == nil {
		t.Errorf("publisher writes kept succeeding for 2 s after the kick")
	}

	// The stream no longer publishes; the player is kept for the republish
	// grace (10 s) and told nothing meanwhile: ffmpeg and librtmp would end
	// the play at an UnpublishNotify (docs/grace.md).
	testenv.Eventually(t, 2*time.Second, "live/cam1 to stop publishing", func() bool {
		s, ok := findStream(listStreams(t, a, token), "live", "cam1")
		return !ok || !s.Publishing
	})
	select {
	case err := <-player.ended:
		t.Errorf("player ended within the republish grace after the kick: %v", err)
	case <-time.After(time.Second):
	}
	_, _, text = apptest.Do(t, a, "GET", "/metrics", token)
	if v := parseMetrics(t, text)["tapedeck_streams"]; v != 0 {
		t.Errorf("metrics after kick: tapedeck_streams %v, want 0", v)
	}
	if code, _, body := apptest.Do(t, a, "POST", "/api/v1/streams/live/cam1/kick", token); code != http.StatusNotFound {
		t.Errorf("second kick of the same stream: %d %s, want 404", code, body)
	}
}

func TestAPISourceHidesKey(t *testing.T) {
	t.Parallel()
	a, _ := apptest.Start(t, nil)
	startPublisher(t, "rtmp://"+a.RTMPAddr().String()+"/live/cam2?key=secret&x=1")
	var st apiStream
	testenv.Eventually(t, 3*time.Second, "live/cam2 publishing", func() bool {
		var ok bool
		st, ok = findStream(listStreams(t, a, ""), "live", "cam2")
		return ok && st.Publishing
	})
	if st.Source == "" {
		t.Errorf("live/cam2 has no source")
	}
	for _, path := range []string{"/api/v1/streams", "/api/v1/streams/live/cam2", "/metrics"} {
		code, _, body := apptest.Do(t, a, "GET", path, "")
		if code != http.StatusOK {
			t.Errorf("GET %s without a configured token: %d, want 200", path, code)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("GET %s shows the stream key:\n%s", path, body)
		}
	}
	if code, _, body := apptest.Do(t, a, "GET", "/api/v1/streams/live/cam2?key=secret", ""); code != http.StatusOK ||
		!strings.Contains(body, `"name": "cam2"`) {
		t.Errorf("GET live/cam2: %d %s", code, body)
	}
}

func TestAPIHTTPDisabled(t *testing.T) {
	t.Parallel()
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.HTTP.Listen = "" })
	if addr := a.HTTPAddr(); addr != nil {
		t.Errorf("HTTPAddr with http.listen \"\" = %v, want nil", addr)
	}
}

func TestAPIMetricsLabelEscaping(t *testing.T) {
	t.Parallel()
	a, _ := apptest.Start(t, nil)
	// A stream name with a quote and a backslash must not break the format.
	startPublisher(t, "rtmp://"+a.RTMPAddr().String()+`/live/we"ird\name`)
	testenv.Eventually(t, 3*time.Second, "the odd stream to publish", func() bool {
		_, ok := findStream(listStreams(t, a, ""), "live", `we"ird\name`)
		return ok
	})
	_, _, text := apptest.Do(t, a, "GET", "/metrics", "")
	m := parseMetrics(t, text)
	if v, ok := m[`tapedeck_stream_players{app="live",stream="we\"ird\\name"}`]; !ok || v != 0 {
		t.Errorf("escaped series missing or wrong (%v, %v) in\n%s", v, ok, text)
	}
}
