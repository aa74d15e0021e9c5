package relay

// End to end with an upstream we did not write: ffmpeg publishes to an
// in-process tapedeck front (rtmp.Server + hub), the Manager pushes to
// nginx-rtmp (libnginx-mod-rtmp; RTMPS through nginx's stream module,
// libnginx-mod-stream), and ffprobe reads the stream back from nginx and
// decodes it. These tests skip when a tool is missing, except under CI
// (CI=true), where the tools are part of the contract.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/rtmp"
)

const testFPS = 25

// ---- external processes ----

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuf // stdout
	errb *testenv.SyncBuf // stderr
	done chan struct{}
	err  error
}

func startProc(t testing.TB, timeout time.Duration, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &proc{name: name, out: &testenv.SyncBuf{}, errb: &testenv.SyncBuf{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

func (p *proc) wait() error {
	<-p.done
	return p.err
}

// publishTestStream runs ffmpeg publishing a test pattern (h264 320x240 at
// 25 fps, a keyframe every second, and AAC) in real time for seconds.
func publishTestStream(t testing.TB, url string, seconds int) *proc {
	testenv.NeedTool(t, "ffmpeg")
	return startProc(t, time.Duration(seconds+30)*time.Second, "ffmpeg",
		"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", testFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", strconv.Itoa(testFPS), "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
}

// ---- ffprobe ----

// startProbe runs ffprobe on url, decoding readFor seconds of media.
func startProbe(t testing.TB, url string, readFor float64) *proc {
	testenv.NeedTool(t, "ffprobe")
	return startProc(t, time.Duration(readFor+25)*time.Second, "ffprobe",
		"-hide_banner", "-v", "error",
		"-show_entries", "stream=codec_type,codec_name:frame=media_type,pts_time",
		"-of", "json", "-read_intervals", fmt.Sprintf("%%+%g", readFor), url)
}

// checkProbe asserts ffprobe decoded h264 and AAC at the full frame rate:
// readFor seconds of video within 10% of the frame count expected, with
// increasing timestamps, and audio.
func checkProbe(t *testing.T, label string, p *proc, readFor float64) {
	t.Helper()
	if err := p.wait(); err != nil {
		t.Fatalf("%s: ffprobe: %v\n%s", label, err, p.errb.String())
	}
	if e := strings.TrimSpace(p.errb.String()); e != "" {
		t.Logf("%s: ffprobe said:\n%s", label, e)
	}
	var out testenv.Probe
	if err := json.Unmarshal([]byte(p.out.String()), &out); err != nil {
		t.Fatalf("%s: ffprobe JSON: %v", label, err)
	}
	codecs := map[string]string{}
	for _, s := range out.Streams {
		codecs[s.CodecType] = s.CodecName
	}
	if codecs["video"] != "h264" || codecs["audio"] != "aac" {
		t.Errorf("%s: codecs %v, want h264 and aac", label, codecs)
	}
	var video []float64
	audio := 0
	for _, f := range out.Frames {
		switch f.MediaType {
		case "video":
			pts, err := strconv.ParseFloat(f.PtsTime, 64)
			if err != nil {
				t.Fatalf("%s: video frame without pts: %q", label, f.PtsTime)
			}
			if len(video) > 0 && pts <= video[len(video)-1] {
				t.Errorf("%s: video pts %.3f after %.3f", label, pts, video[len(video)-1])
			}
			video = append(video, pts)
		case "audio":
			audio++
		}
	}
	expected := readFor * testFPS
	if len(video) < 2 {
		t.Fatalf("%s: %d video frames decoded, want ~%.0f", label, len(video), expected)
	}
	span := video[len(video)-1] - video[0]
	rate := float64(len(video)-1) / span
	t.Logf("%s: %d video frames over %.2f s (%.1f fps), %d audio frames", label, len(video), span, rate, audio)
	if math.Abs(float64(len(video))-expected) > 0.1*expected {
		t.Errorf("%s: %d video frames decoded, want %.0f ± 10%%", label, len(video), expected)
	}
	if math.Abs(rate-testFPS) > 0.1*testFPS {
		t.Errorf("%s: %.1f fps, want %d ± 10%%", label, rate, testFPS)
	}
	if audio < int(readFor*20) { // 44.1 kHz AAC: ~43 frames a second
		t.Errorf("%s: %d audio frames", label, audio)
	}
}

// ---- the tapedeck side ----

// front is a minimal tapedeck: an RTMP server whose publishes and plays go
// to a hub, like appliance/handler.go, and which tells the relay managers
// when a stream starts.
type front struct {
	hub       *hub.Hub
	cfg       hub.StreamConfig
	addr      string
	onPublish func(app, stream string)
}

func startFront(t testing.TB, h *hub.Hub, onPublish func(app, stream string)) *front {
	t.Helper()
	f := &front{hub: h, cfg: hub.StreamConfig{GOPCache: true, RepublishGrace: time.Second}, onPublish: onPublish}
	f.addr = testenv.ServeRTMP(t, f, nil)
	return f
}

func (f *front) url(stream string) string { return "rtmp://" + f.addr + "/live/" + stream }

func (f *front) OnConnect(*rtmp.ConnInfo) error { return nil }

func (f *front) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	pub, err := f.hub.Publish(ci.App, req.Name, f.cfg, "rtmp "+ci.RemoteAddr.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", rtmp.ErrStreamBusy, err)
	}
	if f.onPublish != nil {
		f.onPublish(ci.App, req.Name)
	}
	return pub, nil
}

func (f *front) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	return f.hub.Subscribe(ci.App, req.Name, f.cfg), nil
}

// slowProxy forwards TCP to target, passing the client's bytes on at only
// bytesPerSec (a congested uplink) through small socket buffers.
func slowProxy(t testing.TB, target string, bytesPerSec int) string {
	t.Helper()
	// A WAN-sized MSS keeps the sender's socket buffer WAN-sized too, so
	// the pusher feels the congestion instead of loopback's megabytes of
	// kernel buffer hiding it.
	lc := net.ListenConfig{Control: smallMSS}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, ln, func(c net.Conn, _ int) {
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		back := make(chan struct{})
		go func() { defer close(back); io.Copy(c, u); c.Close() }()
		defer func() { u.Close(); <-back }()
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, err := u.Write(buf[:n]); err != nil {
					return
				}
				time.Sleep(time.Duration(n) * time.Second / time.Duration(bytesPerSec))
			}
			if err != nil {
				return
			}
		}
	})
}

// ---- the must-show cases ----

// TestNginxPush: ffmpeg → tapedeck → push → nginx-rtmp → ffprobe decodes
// h264 and AAC at the full frame rate; when the publisher stops the push
// ends.
func TestNginxPush(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, false)
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	m := NewManager(h, opts)
	f := startFront(t, h, func(app, stream string) {
		m.StreamStarted(app, stream, []Target{{Name: "nginx", URL: fmt.Sprintf("rtmp://127.0.0.1:%d/{app}/{stream}", ng.RTMPPort)}})
	})
	defer m.Close()
	pub := publishTestStream(t, f.url("x"), 9)
	testenv.Eventually(t, 10*time.Second, "the push live", func() bool { return statusOf(t, m, "live", "x", "nginx").State == StateLive })
	const readFor = 4
	checkProbe(t, "nginx", startProbe(t, ng.URL("x"), readFor), readFor)
	st := statusOf(t, m, "live", "x", "nginx")
	if st.BytesOut < 50_000 || st.Retries != 0 {
		t.Errorf("status: %+v", st)
	}
	if err := pub.wait(); err != nil {
		t.Fatalf("ffmpeg publisher: %v\n%s", err, pub.errb.String())
	}
	testenv.Eventually(t, 5*time.Second, "the push to stop with the stream", func() bool { return len(m.Status("live", "x")) == 0 })
}

// TestNginxRestart: nginx is killed mid-stream and started again on the same
// port: the push is back within the backoff bound and ffprobe reads it from
// nginx again, while a local subscriber (a player, the recorder) never
// missed a frame.
func TestNginxRestart(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, false)
	opts, _ := fastOptions(t)
	opts.MinBackoff, opts.MaxBackoff = 250*time.Millisecond, 2*time.Second
	h := hub.New(discardLogger())
	m := NewManager(h, opts)
	f := startFront(t, h, func(app, stream string) {
		m.StreamStarted(app, stream, []Target{{Name: "nginx", URL: ng.URL("{stream}")}})
	})
	defer m.Close()
	local := startCounter(t, f.hub, "live", "x")
	publishTestStream(t, f.url("x"), 14)
	testenv.Eventually(t, 10*time.Second, "the push live", func() bool { return statusOf(t, m, "live", "x", "nginx").State == StateLive })
	time.Sleep(time.Second)

	ng.Kill()
	testenv.Eventually(t, 5*time.Second, "the push to notice", func() bool { return statusOf(t, m, "live", "x", "nginx").State != StateLive })
	time.Sleep(1500 * time.Millisecond)
	down := statusOf(t, m, "live", "x", "nginx")
	t.Logf("while nginx is down: %+v", down)
	if down.LastError == "" {
		t.Errorf("no error while nginx is down: %+v", down)
	}
	ng.Start()
	bound := opts.MaxBackoff + time.Second
	testenv.Eventually(t, bound, "the push back within the backoff bound", func() bool {
		st := statusOf(t, m, "live", "x", "nginx")
		return st.State == StateLive && st.Retries >= 1
	})
	t.Logf("push back %v after nginx restarted: %+v", time.Since(ng.StartedAt).Round(time.Millisecond), statusOf(t, m, "live", "x", "nginx"))
	const readFor = 4
	checkProbe(t, "nginx after restart", startProbe(t, ng.URL("x"), readFor), readFor)

	frames, gap, starts := local.stats()
	t.Logf("local subscriber: %d frames, largest gap %d ms", frames, gap)
	if starts != 0 || gap > 100 || frames < 8*testFPS {
		t.Errorf("local subscriber disturbed: %d frames, gap %d ms, %d restarts", frames, gap, starts)
	}
}

// TestNginxBlackHole: three targets — a black hole (accepts TCP, never
// answers), nginx behind a link throttled to 4 KB/s, and nginx directly.
// The direct target and a local player keep the full frame rate; the black
// hole shows connecting/backoff with a timeout; the throttled one falls
// behind alone.
func TestNginxBlackHole(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, false)
	hole := blackHole(t)
	slow := slowProxy(t, fmt.Sprintf("127.0.0.1:%d", ng.RTMPPort), 4<<10)
	opts, _ := fastOptions(t)
	opts.MinBackoff, opts.MaxBackoff = 250*time.Millisecond, 2*time.Second
	opts.DialTimeout, opts.WriteTimeout = time.Second, 2*time.Second
	opts.MaxLagBytes = 128 << 10
	h := hub.New(discardLogger())
	m := NewManager(h, opts)
	f := startFront(t, h, func(app, stream string) {
		m.StreamStarted(app, stream, []Target{
			{Name: "hole", URL: "rtmp://" + hole + "/live/{stream}"},
			{Name: "slow", URL: "rtmp://" + slow + "/live/slow"},
			{Name: "nginx", URL: ng.URL("{stream}")},
		})
	})
	defer m.Close()
	publishTestStream(t, f.url("x"), 10)
	testenv.Eventually(t, 10*time.Second, "the nginx push live", func() bool { return statusOf(t, m, "live", "x", "nginx").State == StateLive })
	const readFor = 5
	upstream := startProbe(t, ng.URL("x"), readFor)
	player := startProbe(t, f.url("x"), readFor)
	checkProbe(t, "nginx", upstream, readFor)
	checkProbe(t, "local player", player, readFor)

	st := statusOf(t, m, "live", "x", "hole")
	t.Logf("black hole: %+v", st)
	if (st.State != StateConnecting && st.State != StateBackoff) || !strings.Contains(st.LastError, "timeout") || st.Retries < 1 || st.BytesOut != 0 {
		t.Errorf("black hole status: %+v", st)
	}
	slowSt, good := statusOf(t, m, "live", "x", "slow"), statusOf(t, m, "live", "x", "nginx")
	t.Logf("slow target: %+v", slowSt)
	t.Logf("nginx target: %+v", good)
	// The slow target fell behind on its own. (Whether it already skipped
	// or hit the write timeout depends on how much the loopback socket
	// buffers absorbed; TestPushSlowTargetSkips shows the skip.)
	if slowSt.BytesOut >= good.BytesOut {
		t.Errorf("slow target did not fall behind: %+v", slowSt)
	}
}

// TestNginxRTMPS: push over TLS (nginx's stream module in front of
// nginx-rtmp) verified against a test CA; without the CA the status says
// the certificate is not trusted.
func TestNginxRTMPS(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, true)
	opts, _ := fastOptions(t)
	opts.TLSConfig = &tls.Config{RootCAs: ng.CAPool}
	untrustedOpts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	trusted, untrusted := NewManager(h, opts), NewManager(h, untrustedOpts)
	f := startFront(t, h, func(app, stream string) {
		trusted.StreamStarted(app, stream, []Target{{Name: "tls", URL: fmt.Sprintf("rtmps://localhost:%d/live/{stream}", ng.TLSPort)}})
		untrusted.StreamStarted(app, stream, []Target{{Name: "tls", URL: fmt.Sprintf("rtmps://localhost:%d/live/untrusted", ng.TLSPort)}})
	})
	defer trusted.Close()
	defer untrusted.Close()
	publishTestStream(t, f.url("x"), 8)
	testenv.Eventually(t, 10*time.Second, "the RTMPS push live", func() bool { return statusOf(t, trusted, "live", "x", "tls").State == StateLive })
	const readFor = 3
	checkProbe(t, "nginx via rtmps", startProbe(t, ng.URL("x"), readFor), readFor)

	st := statusOf(t, untrusted, "live", "x", "tls")
	t.Logf("without the CA: %+v", st)
	if st.State == StateLive || !strings.Contains(st.LastError, "certificate") || !strings.Contains(st.LastError, "unknown authority") {
		t.Errorf("untrusted certificate not reported: %+v", st)
	}
}
