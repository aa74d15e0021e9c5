package appliance_test

// Helpers for the end-to-end interoperability tests in e2e_test.go: an
// in-process appliance whose log is kept for failure reports, external
// clients run under deadlines, and parsers for what those clients print.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/hub"
)

// maxToolTime bounds every external process.
const maxToolTime = 60 * time.Second

// TestMain tears down the appliance and publisher shared by several tests.
func TestMain(m *testing.M) {
	code := m.Run()
	shared.teardown()
	os.Exit(code)
}

// needTool returns the path of an external client, skipping the test when it
// is missing, except under CI where the clients are part of the contract.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s required under CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// capBuffer is a goroutine-safe buffer that keeps the first max bytes.
type capBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int
}

func newCapBuffer(max int) *capBuffer { return &capBuffer{max: max} }

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(p), b.max-b.buf.Len())
	b.buf.Write(p[:n])
	b.dropped += len(p) - n
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return b.buf.String() + fmt.Sprintf("\n[... %d more bytes dropped]", b.dropped)
	}
	return b.buf.String()
}

// Len reports the bytes kept so far; a later since(Len()) returns what was
// written after this point.
func (b *capBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *capBuffer) since(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off > b.buf.Len() {
		return ""
	}
	return string(b.buf.Bytes()[off:])
}

// excerpt returns at most maxLines lines of s, leaving out lines for which
// skip is true, and says how many were cut.
func excerpt(s string, maxLines int, skip func(string) bool) string {
	var out []string
	cut := 0
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if skip != nil && skip(l) {
			continue
		}
		if len(out) >= maxLines {
			cut++
			continue
		}
		if len(l) > 500 { // e.g. rtmpdump's \r-separated progress: keep the end
			l = "[...]" + l[len(l)-500:]
		}
		out = append(out, l)
	}
	if cut > 0 {
		out = append(out, fmt.Sprintf("[... %d more lines]", cut))
	}
	return strings.Join(out, "\n")
}

// ---- in-process appliance ----

type testServer struct {
	a       *appliance.Appliance
	addr    string
	log     *capBuffer // the appliance's slog output (text, debug level)
	storage string     // temporary storage.dir, removed by close
}

// newTestServer starts an appliance with the default configuration (app
// "live", GOP cache on, 10 s republish grace) on a free loopback port,
// without the HTTP API and with storage in a temporary directory.
func newTestServer() (*testServer, error) {
	cfg, err := appliance.LoadConfig("")
	if err != nil {
		return nil, err
	}
	cfg.RTMP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = ""
	storage, err := os.MkdirTemp("", "tapedeck-e2e-")
	if err != nil {
		return nil, err
	}
	cfg.Storage.Dir = storage
	logs := newCapBuffer(32 << 20)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := appliance.New(cfg, logger)
	if err := a.Start(); err != nil {
		os.RemoveAll(storage)
		return nil, err
	}
	return &testServer{a: a, addr: a.RTMPAddr().String(), log: logs, storage: storage}, nil
}

// close shuts the appliance down and removes its storage.
func (s *testServer) close() error {
	err := s.a.Shutdown(5 * time.Second)
	os.RemoveAll(s.storage)
	return err
}

func (s *testServer) url(app, name string) string {
	return "rtmp://" + s.addr + "/" + app + "/" + name
}

// watch marks the log position now and returns a function giving the log
// written since; on failure (or with E2E_SERVER_LOG=1), the test's share of
// the log is printed.
func (s *testServer) watch(t testing.TB) func() string {
	off := s.log.Len()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_SERVER_LOG") == "1" {
			t.Logf("server log during this test:\n%s", excerpt(s.log.since(off), 300, nil))
		}
	})
	return func() string { return s.log.since(off) }
}

func (s *testServer) stats(app, name string) (hub.Stats, bool) {
	st := s.a.Hub().Lookup(app, name)
	if st == nil {
		return hub.Stats{}, false
	}
	return st.Stats(), true
}

// waitPublishing polls the hub until app/name is published and carries
// video. pub, if not nil, is the publisher: its early exit fails at once.
func (s *testServer) waitPublishing(t testing.TB, app, name string, pub *toolRun, timeout time.Duration) hub.Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if st, ok := s.stats(app, name); ok && st.Publishing && st.MessagesIn >= 10 && st.VideoCodec != 0 {
			return st
		}
		if pub != nil && pub.exited() {
			t.Fatalf("publisher exited before %s/%s was published:\n%s", app, name, pub.report())
		}
		if time.Now().After(deadline) {
			st, ok := s.stats(app, name)
			t.Fatalf("%s/%s not published with video after %v (exists=%v stats=%+v)", app, name, timeout, ok, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- external processes ----

// toolRun is one external client run under a deadline. When the deadline
// passes (or stop is called) it gets SIGINT, which ffmpeg, rtmpdump and
// gst-launch handle by finishing their output; SIGKILL follows 5 s later.
type toolRun struct {
	name    string
	args    []string
	cmd     *exec.Cmd
	ctx     context.Context
	cancel  context.CancelFunc
	stdout  *capBuffer
	stderr  *capBuffer
	started time.Time
	done    chan struct{}

	quietStdout bool // leave stdout out of failure reports (ffprobe JSON)

	// Valid once done is closed.
	err         error
	elapsed     time.Duration
	exitCode    int
	interrupted bool // ended by our deadline or stop, not on its own
}

func launchTool(limit time.Duration, env []string, name string, args ...string) (*toolRun, error) {
	if limit > maxToolTime {
		limit = maxToolTime
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	r := &toolRun{
		name: name, args: args, cmd: cmd, ctx: ctx, cancel: cancel,
		stdout: newCapBuffer(4 << 20), stderr: newCapBuffer(4 << 20),
		done: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		r.elapsed = time.Since(r.started)
		r.err = err
		r.exitCode = cmd.ProcessState.ExitCode()
		r.interrupted = ctx.Err() != nil
		cancel()
		close(r.done)
	}()
	return r, nil
}

// startTool launches a client for the test; it is stopped at the end of the
// test and its output is logged if the test failed.
func startTool(t testing.TB, limit time.Duration, env []string, name string, args ...string) *toolRun {
	t.Helper()
	r, err := launchTool(limit, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s", r.report())
		}
	})
	return r
}

// runTool runs a client to completion (or its deadline).
func runTool(t testing.TB, limit time.Duration, env []string, name string, args ...string) *toolRun {
	t.Helper()
	r := startTool(t, limit, env, name, args...)
	r.wait()
	return r
}

func (r *toolRun) wait() *toolRun { <-r.done; return r }

// stop interrupts the process and waits for it.
func (r *toolRun) stop() { r.cancel(); <-r.done }

func (r *toolRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// remaining is how long until the deadline interrupts the process.
func (r *toolRun) remaining() time.Duration {
	d, _ := r.ctx.Deadline()
	return time.Until(d)
}

func (r *toolRun) status() string {
	select {
	case <-r.done:
	default:
		return "still running"
	}
	how := "exited on its own"
	if r.interrupted {
		how = "interrupted by the test"
	}
	return fmt.Sprintf("%s after %v, exit code %d, err %v", how, r.elapsed.Round(time.Millisecond), r.exitCode, r.err)
}

func (r *toolRun) report() string {
	// Leave out rtmpdump's packet dumps and GStreamer's debug log.
	noise := func(l string) bool { return strings.HasPrefix(l, "DEBUG2:") || gstDebugLine.MatchString(l) }
	stdout := excerpt(r.stdout.String(), 25, nil)
	if r.quietStdout {
		stdout = fmt.Sprintf("[%d bytes, not shown]", r.stdout.Len())
	}
	return fmt.Sprintf("$ %s %s\n%s\n--- stdout:\n%s\n--- stderr:\n%s", r.name, strings.Join(r.args, " "), r.status(),
		stdout, excerpt(r.stderr.String(), 150, noise))
}

var gstDebugLine = regexp.MustCompile(`^\d+:\d\d:\d\d\.\d+ +\d+ +0x[0-9a-f]+ +(LOG|DEBUG|TRACE) `)

// publisherArgs are the ffmpeg arguments of the test publisher: seconds of
// 640x360 at 25 fps with a 2 s GOP, plus AAC audio, in real time.
func publisherArgs(url string, seconds int) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k",
		"-f", "flv", url,
	}
}

// ---- shared appliance and publisher ----

// sharedFixture is one appliance with one running publisher (live/cam1),
// used by the tests that only watch the stream, to save start-up time.
type sharedFixture struct {
	mu    sync.Mutex
	srv   *testServer
	pub   *toolRun
	name  string
	since time.Time
	gen   int
}

var shared sharedFixture

const sharedPublishSeconds = 58

func sharedServer(t testing.TB) *testServer {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.serverLocked(t)
}

func (f *sharedFixture) serverLocked(t testing.TB) *testServer {
	t.Helper()
	if f.srv == nil {
		s, err := newTestServer()
		if err != nil {
			t.Fatalf("starting shared appliance: %v", err)
		}
		f.srv = s
	}
	return f.srv
}

// sharedStream returns the shared appliance and the name of a stream in app
// "live" that is being published, with at least 20 s of it left, plus the
// time its publish started. A fresh publisher (under a new name) replaces
// one that is about to end. Its output is logged if the test fails.
func sharedStream(t testing.TB) (*testServer, string, time.Time) {
	t.Helper()
	needTool(t, "ffmpeg")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	f := &shared
	s := f.serverLocked(t)
	if f.pub != nil && (f.pub.exited() || f.pub.remaining() < 20*time.Second) {
		if f.pub.exited() {
			t.Logf("shared publisher %s ended early: %s", f.name, f.pub.status())
		}
		f.pub.stop()
		f.pub = nil
	}
	if f.pub == nil {
		f.gen++
		f.name = "cam1"
		if f.gen > 1 {
			f.name = fmt.Sprintf("cam1-%d", f.gen)
		}
		pub, err := launchTool(maxToolTime, nil, "ffmpeg", publisherArgs(s.url("live", f.name), sharedPublishSeconds)...)
		if err != nil {
			t.Fatal(err)
		}
		f.pub = pub
		st := s.waitPublishing(t, "live", f.name, pub, 15*time.Second)
		f.since = st.Since
	}
	pub := f.pub
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared publisher: %s", pub.report())
		}
	})
	if st, ok := s.stats("live", f.name); !ok || !st.Publishing {
		t.Fatalf("shared stream live/%s is not publishing (exists=%v, stats=%+v); publisher: %s", f.name, ok, st, pub.status())
	}
	return s, f.name, f.since
}

func (f *sharedFixture) teardown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pub != nil {
		f.pub.stop()
	}
	if f.srv != nil {
		if err := f.srv.close(); err != nil {
			fmt.Fprintf(os.Stderr, "shared appliance shutdown: %v\n", err)
		}
	}
}

// ---- ffprobe ----

type probeEntry struct {
	Type        string `json:"type"`       // "packet" or "frame"
	CodecType   string `json:"codec_type"` // packets
	MediaType   string `json:"media_type"` // frames
	StreamIndex int    `json:"stream_index"`
	PtsTime     string `json:"pts_time"`
	Flags       string `json:"flags"`     // packets: "K_" for keyframes
	KeyFrame    int    `json:"key_frame"` // frames
	PictType    string `json:"pict_type"` // video frames
}

type probeStream struct {
	Index     int    `json:"index"`
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

type probeResult struct {
	PacketsAndFrames []probeEntry  `json:"packets_and_frames"`
	Streams          []probeStream `json:"streams"`
}

// probeArgs makes ffprobe demux and decode input and list streams, packets
// and frames as JSON; readFor > 0 stops after that many seconds of media.
func probeArgs(input string, readFor float64) []string {
	args := []string{
		"-hide_banner", "-v", "error",
		"-show_entries", "stream=index,codec_type,codec_name,width,height" +
			":packet=codec_type,stream_index,pts_time,flags" +
			":frame=media_type,stream_index,pts_time,key_frame,pict_type",
		"-of", "json",
	}
	if readFor > 0 {
		args = append(args, "-read_intervals", fmt.Sprintf("%%+%g", readFor))
	}
	return append(args, input)
}

func startProbe(t testing.TB, input string, readFor float64) *toolRun {
	t.Helper()
	needTool(t, "ffprobe")
	r := startTool(t, 30*time.Second, nil, "ffprobe", probeArgs(input, readFor)...)
	r.quietStdout = true
	return r
}

// parseProbe decodes a finished ffprobe run; it fails the test if ffprobe
// failed or reported errors.
func parseProbe(t testing.TB, r *toolRun) *probeResult {
	t.Helper()
	r.wait()
	if r.err != nil || r.interrupted {
		t.Fatalf("ffprobe failed: %s\nstderr:\n%s", r.status(), excerpt(r.stderr.String(), 40, nil))
	}
	if e := strings.TrimSpace(r.stderr.String()); e != "" {
		t.Errorf("ffprobe reported errors while demuxing/decoding:\n%s", excerpt(e, 40, nil))
	}
	var res probeResult
	if err := json.Unmarshal([]byte(r.stdout.String()), &res); err != nil {
		t.Fatalf("parsing ffprobe JSON: %v\n%s", err, excerpt(r.stdout.String(), 20, nil))
	}
	return &res
}

type mediaEntry struct {
	pts  float64
	key  bool
	pict string
}

// entries returns the packets or frames ("packet"/"frame") of one media type.
func (p *probeResult) entries(typ, media string) []mediaEntry {
	var out []mediaEntry
	for _, e := range p.PacketsAndFrames {
		if e.Type != typ {
			continue
		}
		m := e.CodecType
		if typ == "frame" {
			m = e.MediaType
		}
		if m != media {
			continue
		}
		pts, err := strconv.ParseFloat(e.PtsTime, 64)
		if err != nil {
			pts = -1 // "N/A": caught by the monotonic check
		}
		key := e.KeyFrame == 1
		if typ == "packet" {
			key = strings.HasPrefix(e.Flags, "K")
		}
		out = append(out, mediaEntry{pts: pts, key: key, pict: e.PictType})
	}
	return out
}

// mediaExpect is what a client must have received of the test stream.
type mediaExpect struct {
	minVideoFrames int     // decoded video frames
	minSpan        float64 // seconds between the first and last video frame
}

// checkMedia asserts the test publisher's stream came through intact:
// h264 640x360 and AAC, the first video packet and frame a keyframe, video
// timestamps strictly increasing without holes, enough frames, and audio.
func checkMedia(t testing.TB, label string, p *probeResult, want mediaExpect) {
	t.Helper()
	var haveVideo, haveAudio bool
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			haveVideo = true
			if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 {
				t.Errorf("%s: video stream is %s %dx%d, want h264 640x360", label, s.CodecName, s.Width, s.Height)
			}
		case "audio":
			haveAudio = true
			if s.CodecName != "aac" {
				t.Errorf("%s: audio stream is %s, want aac", label, s.CodecName)
			}
		}
	}
	if !haveVideo || !haveAudio {
		t.Errorf("%s: streams %+v: want one h264 video and one aac audio stream", label, p.Streams)
	}

	vpk := p.entries("packet", "video")
	vfr := p.entries("frame", "video")
	afr := p.entries("frame", "audio")
	t.Logf("%s: %d video packets, %d video frames, %d audio frames", label, len(vpk), len(vfr), len(afr))
	if len(vpk) == 0 || len(vfr) == 0 {
		t.Errorf("%s: no video received", label)
		return
	}
	if !vpk[0].key {
		t.Errorf("%s: first video packet (pts %.3f) is not a keyframe: the player was started mid-GOP", label, vpk[0].pts)
	}
	if !vfr[0].key || vfr[0].pict != "I" {
		t.Errorf("%s: first decoded video frame (pts %.3f) is key=%v type %s, want an I keyframe", label, vfr[0].pts, vfr[0].key, vfr[0].pict)
	}
	checkIncreasing(t, label+": video packet pts", vpk, true, 0.5)
	checkIncreasing(t, label+": video frame pts", vfr, true, 0.5)
	if len(vfr) < want.minVideoFrames {
		t.Errorf("%s: %d video frames decoded, want at least %d", label, len(vfr), want.minVideoFrames)
	}
	if span := vfr[len(vfr)-1].pts - vfr[0].pts; span < want.minSpan {
		t.Errorf("%s: video covers %.3f s (%.3f..%.3f), want at least %.1f s", label, span, vfr[0].pts, vfr[len(vfr)-1].pts, want.minSpan)
	}
	// 44100 Hz AAC is 43 frames a second; allow for start-up and jitter.
	if minAudio := int(want.minSpan * 43 * 0.7); len(afr) < minAudio {
		t.Errorf("%s: %d audio frames decoded, want at least %d", label, len(afr), minAudio)
	}
	checkIncreasing(t, label+": audio frame pts", afr, false, 0.5)
	// Every client here joins a running stream. Served from the GOP cache,
	// it starts at a keyframe with the audio that follows it; a server that
	// makes a joiner wait for the next keyframe passes audio meanwhile, so
	// video would start later than audio.
	if len(afr) > 0 && vfr[0].pts > afr[0].pts+0.1 {
		t.Errorf("%s: video starts %.3f s after audio (video %.3f, audio %.3f): the joiner waited for a keyframe instead of getting the cached GOP",
			label, vfr[0].pts-afr[0].pts, vfr[0].pts, afr[0].pts)
	}
}

// checkIncreasing reports timestamps that go backwards (or repeat, when
// strict) and holes larger than maxGap seconds.
func checkIncreasing(t testing.TB, label string, es []mediaEntry, strict bool, maxGap float64) {
	t.Helper()
	var bad []string
	for i := 1; i < len(es); i++ {
		d := es[i].pts - es[i-1].pts
		if es[i-1].pts < 0 || es[i].pts < 0 || d < 0 || (strict && d == 0) || d > maxGap {
			bad = append(bad, fmt.Sprintf("#%d %.3f -> #%d %.3f", i-1, es[i-1].pts, i, es[i].pts))
		}
	}
	if len(bad) > 0 {
		what := "non-decreasing"
		if strict {
			what = "strictly increasing"
		}
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("... %d more", len(bad)-10))
		}
		t.Errorf("%s: not %s with gaps <= %.1fs (%d entries): %s", label, what, maxGap, len(es), strings.Join(bad, ", "))
	}
}

// ---- misc ----

// sleepUntilMidGOP waits until the publisher that started at since is
// about a second into a 2 s GOP, at least minAge after since, so that a
// player joining now starts mid-GOP.
func sleepUntilMidGOP(since time.Time, minAge time.Duration) time.Time {
	const gop = 2 * time.Second
	target := since.Add(gop/2 - gop)
	for target.Before(since.Add(minAge)) || time.Until(target) < 0 {
		target = target.Add(gop)
	}
	time.Sleep(time.Until(target))
	return target
}

// parseClock parses a GStreamer clock time such as 0:00:01.240000000.
func parseClock(s string) (float64, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, errors.New("not h:mm:ss.nnnnnnnnn: " + s)
	}
	var total float64
	for _, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, err
		}
		total = total*60 + v
	}
	return total, nil
}

// loadYAML writes a config file at path and loads it, with the listeners
// moved to a free loopback port (RTMP) and off (HTTP).
func loadYAML(t testing.TB, path, yaml string) *appliance.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := appliance.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RTMP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", ""
	return cfg
}
