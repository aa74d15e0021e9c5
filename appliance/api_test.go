package appliance_test

// Black-box tests of the HTTP API, /metrics and /healthz, driven by the Go
// RTMP client publishing a synthetic stream. The helpers prefixed apiT are
// shared with cli_test.go and auth_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// apiTLog is a goroutine-safe buffer for an appliance's slog output.
type apiTLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *apiTLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *apiTLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits until one line of the log contains every one of subs,
// and returns it.
func (b *apiTLog) waitLine(t testing.TB, timeout time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range strings.Split(b.String(), "\n") {
			ok := true
			for _, s := range subs {
				if !strings.Contains(l, s) {
					ok = false
					break
				}
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v", subs, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apiTStart runs an in-process appliance on the embedded defaults, changed
// by mutate, on loopback ports chosen by the kernel. Its log is printed
// when the test fails.
func apiTStart(t testing.TB, mutate func(*appliance.Config)) (*appliance.Appliance, *apiTLog) {
	t.Helper()
	cfg, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	cfg.RTMP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Storage.Dir = t.TempDir()
	if mutate != nil {
		mutate(cfg)
	}
	return apiTStartConfig(t, cfg)
}

func apiTStartConfig(t testing.TB, cfg *appliance.Config) (*appliance.Appliance, *apiTLog) {
	t.Helper()
	if cfg.Storage.Dir == "./recordings" {
		cfg.Storage.Dir = t.TempDir() // keep recordings out of the source tree
	}
	logs := &apiTLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("appliance log:\n%s", logs.String())
		}
	})
	a := appliance.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := a.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Shutdown(5 * time.Second); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return a, logs
}

// apiTDo makes an HTTP request to the appliance's API and returns the
// status, headers and body.
func apiTDo(t testing.TB, a *appliance.Appliance, method, path, token string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.HTTPAddr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// apiTStream mirrors the JSON of one stream in the API.
type apiTStream struct {
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

func apiTStreams(t testing.TB, a *appliance.Appliance, token string) []apiTStream {
	t.Helper()
	code, hdr, body := apiTDo(t, a, "GET", "/api/v1/streams", token)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/streams: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /api/v1/streams: Content-Type %q, want application/json", ct)
	}
	var list []apiTStream
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /api/v1/streams: %v in %s", err, body)
	}
	return list
}

func apiTFind(list []apiTStream, app, name string) (apiTStream, bool) {
	for _, s := range list {
		if s.App == app && s.Name == name {
			return s, true
		}
	}
	return apiTStream{}, false
}

// apiTMetrics parses the Prometheus text format: series (name plus label
// set, as written) to value. It checks that every sample's family has
// HELP and TYPE lines before it.
func apiTMetrics(t testing.TB, text string) map[string]float64 {
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
			if typ != "gauge" && typ != "counter" {
				t.Errorf("metrics: %s has type %q", name, typ)
			}
			typed[name] = true
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

var (
	apiTAVCHeader = []byte{0x17, 0x00, 0, 0, 0, // AVC sequence header
		0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80}
	apiTKeyframe   = []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00}
	apiTInterframe = []byte{0x27, 0x01, 0, 0, 0, 0, 0, 0, 3, 0x41, 0x9a, 0x02}
	apiTAACHeader  = []byte{0xAF, 0x00, 0x12, 0x10}
	apiTAACFrame   = []byte{0xAF, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}
)

func apiTMetadata(t testing.TB) []byte {
	t.Helper()
	body, err := amf.AppendAMF0(nil, "onMetaData", amf.ECMAArray{
		{Key: "width", Value: 640.0}, {Key: "height", Value: 360.0}, {Key: "framerate", Value: 25.0},
		{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// apiTPublisher publishes url with the Go client and sends metadata,
// sequence headers and one GOP of fake frames with audio.
func apiTPublisher(t testing.TB, url string) *rtmp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Publish(ctx, name); err != nil {
		t.Fatalf("publish %s: %v", url, err)
	}
	apiTSendGOP(t, c, 0)
	return c
}

// apiTSendGOP writes metadata, headers (at ts 0) and a keyframe, three
// inter frames and audio starting at ts.
func apiTSendGOP(t testing.TB, c *rtmp.Client, ts uint32) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	defer c.SetWriteDeadline(time.Time{})
	msgs := []*remux.Message{}
	if ts == 0 {
		msgs = append(msgs,
			remux.NewMessage(remux.KindData, 0, apiTMetadata(t)),
			remux.NewMessage(remux.KindVideo, 0, apiTAVCHeader),
			remux.NewMessage(remux.KindAudio, 0, apiTAACHeader),
		)
	}
	msgs = append(msgs, remux.NewMessage(remux.KindVideo, ts, apiTKeyframe))
	for i := uint32(1); i <= 3; i++ {
		msgs = append(msgs,
			remux.NewMessage(remux.KindAudio, ts+i*40-20, apiTAACFrame),
			remux.NewMessage(remux.KindVideo, ts+i*40, apiTInterframe))
	}
	for _, m := range msgs {
		if err := c.WriteMedia(m); err != nil {
			t.Fatalf("WriteMedia %v@%d: %v", m.Kind, m.Timestamp, err)
		}
	}
}

// apiTPlayer plays url with the Go client; it counts video messages and
// delivers the error that ended the reads.
type apiTPlayer struct {
	c      *rtmp.Client
	video  atomic.Int64
	ended  chan error
	cancel context.CancelFunc
}

func apiTPlay(t testing.TB, url string) *apiTPlayer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Play(ctx, name); err != nil {
		t.Fatalf("play %s: %v", url, err)
	}
	p := &apiTPlayer{c: c, ended: make(chan error, 1)}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	go func() {
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

// apiTEventually polls cond every 20 ms until it holds or timeout passes.
func apiTEventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- tests ----

func TestAPIStreamsMetricsKick(t *testing.T) {
	t.Parallel()
	const token = "t0k"
	a, logs := apiTStart(t, func(c *appliance.Config) { c.HTTP.Token = token })
	base := "rtmp://" + a.RTMPAddr().String() + "/live/"

	pub := apiTPublisher(t, base+"cam1")
	player := apiTPlay(t, base+"cam1")
	apiTEventually(t, 3*time.Second, "the player to receive video", func() bool { return player.video.Load() >= 1 })
	// More media after the player joined, so it is live and not only cached.
	apiTSendGOP(t, pub, 200)

	// Authentication.
	for _, path := range []string{"/api/v1/streams", "/api/v1/streams/live/cam1", "/metrics"} {
		for _, tok := range []string{"", "wrong"} {
			code, hdr, body := apiTDo(t, a, "GET", path, tok)
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
	if code, _, body := apiTDo(t, a, "POST", "/api/v1/streams/live/cam1/kick", ""); code != http.StatusUnauthorized {
		t.Errorf("kick without token: %d %s, want 401", code, body)
	}
	if code, _, body := apiTDo(t, a, "GET", "/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz without token: %d %q, want 200 \"ok\\n\"", code, body)
	}

	// The stream list.
	var st apiTStream
	apiTEventually(t, 3*time.Second, "stream stats with codecs and a subscriber", func() bool {
		var ok bool
		st, ok = apiTFind(apiTStreams(t, a, token), "live", "cam1")
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
	code, _, body := apiTDo(t, a, "GET", "/api/v1/streams/live/cam1", token)
	var one apiTStream
	if code != http.StatusOK || json.Unmarshal([]byte(body), &one) != nil || one.Name != "cam1" || one.App != "live" || !one.Publishing {
		t.Errorf("GET /api/v1/streams/live/cam1: %d %s", code, body)
	}
	if code, _, body := apiTDo(t, a, "GET", "/api/v1/streams/live/nope", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"no such stream\"\n}\n" {
		t.Errorf("GET of an unknown stream: %d %q, want 404 no such stream", code, body)
	}

	// Metrics.
	code, hdr, text := apiTDo(t, a, "GET", "/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, text)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics: Content-Type %q", ct)
	}
	m := apiTMetrics(t, text)
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
	if code, _, body := apiTDo(t, a, "POST", "/api/v1/streams/live/nope/kick", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"no such live stream\"\n}\n" {
		t.Errorf("kick of an unknown stream: %d %q, want 404 no such live stream", code, body)
	}
	if code, _, body := apiTDo(t, a, "POST", "/api/v1/streams/live/cam1/explode", token); code != http.StatusNotFound ||
		body != "{\n  \"error\": \"unknown action\"\n}\n" {
		t.Errorf("unknown action: %d %q, want 404 unknown action", code, body)
	}
	code, _, body = apiTDo(t, a, "POST", "/api/v1/streams/live/cam1/kick", token)
	if code != http.StatusOK || body != "{\n  \"result\": \"kicked\"\n}\n" {
		t.Fatalf("kick: %d %q, want 200 kicked", code, body)
	}
	kicked := time.Now()
	logs.waitLine(t, 2*time.Second, "publisher kicked via API", "stream=cam1")

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
		werr = pub.WriteMedia(remux.NewMessage(remux.KindVideo, 400, apiTInterframe))
		time.Sleep(20 * time.Millisecond)
	}
	if werr == nil {
		t.Errorf("publisher writes kept succeeding for 2 s after the kick")
	}

	// The stream no longer publishes; the player (kept for the republish
	// grace) is told the publisher went away.
	apiTEventually(t, 2*time.Second, "live/cam1 to stop publishing", func() bool {
		s, ok := apiTFind(apiTStreams(t, a, token), "live", "cam1")
		return !ok || !s.Publishing
	})
	select {
	case err := <-player.ended:
		if !errors.Is(err, rtmp.ErrStreamEnded) {
			t.Errorf("player after kick: %v, want rtmp.ErrStreamEnded", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("player not told of the unpublish within 2 s of the kick")
	}
	_, _, text = apiTDo(t, a, "GET", "/metrics", token)
	if v := apiTMetrics(t, text)["tapedeck_streams"]; v != 0 {
		t.Errorf("metrics after kick: tapedeck_streams %v, want 0", v)
	}
	if code, _, body := apiTDo(t, a, "POST", "/api/v1/streams/live/cam1/kick", token); code != http.StatusNotFound {
		t.Errorf("second kick of the same stream: %d %s, want 404", code, body)
	}
}

func TestAPISourceHidesKey(t *testing.T) {
	t.Parallel()
	a, _ := apiTStart(t, nil)
	apiTPublisher(t, "rtmp://"+a.RTMPAddr().String()+"/live/cam2?key=secret&x=1")
	var st apiTStream
	apiTEventually(t, 3*time.Second, "live/cam2 publishing", func() bool {
		var ok bool
		st, ok = apiTFind(apiTStreams(t, a, ""), "live", "cam2")
		return ok && st.Publishing
	})
	if st.Source == "" {
		t.Errorf("live/cam2 has no source")
	}
	for _, path := range []string{"/api/v1/streams", "/api/v1/streams/live/cam2", "/metrics"} {
		code, _, body := apiTDo(t, a, "GET", path, "")
		if code != http.StatusOK {
			t.Errorf("GET %s without a configured token: %d, want 200", path, code)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("GET %s shows the stream key:\n%s", path, body)
		}
	}
	if code, _, body := apiTDo(t, a, "GET", "/api/v1/streams/live/cam2?key=secret", ""); code != http.StatusOK ||
		!strings.Contains(body, `"name": "cam2"`) {
		t.Errorf("GET live/cam2: %d %s", code, body)
	}
}

func TestAPIHTTPDisabled(t *testing.T) {
	t.Parallel()
	a, _ := apiTStart(t, func(c *appliance.Config) { c.HTTP.Listen = "" })
	if addr := a.HTTPAddr(); addr != nil {
		t.Errorf("HTTPAddr with http.listen \"\" = %v, want nil", addr)
	}
}

func TestAPIMetricsLabelEscaping(t *testing.T) {
	t.Parallel()
	a, _ := apiTStart(t, nil)
	// A stream name with a quote and a backslash must not break the format.
	apiTPublisher(t, "rtmp://"+a.RTMPAddr().String()+`/live/we"ird\name`)
	apiTEventually(t, 3*time.Second, "the odd stream to publish", func() bool {
		_, ok := apiTFind(apiTStreams(t, a, ""), "live", `we"ird\name`)
		return ok
	})
	_, _, text := apiTDo(t, a, "GET", "/metrics", "")
	m := apiTMetrics(t, text)
	if v, ok := m[`tapedeck_stream_players{app="live",stream="we\"ird\\name"}`]; !ok || v != 0 {
		t.Errorf("escaped series missing or wrong (%v, %v) in\n%s", v, ok, text)
	}
}

// apiTFreePort returns a loopback address that was free a moment ago.
func apiTFreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
