package pull

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// need skips the test when a tool is missing, or fails it under CI=true.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s missing (CI needs: apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-ugly gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav ffmpeg)", what)
	}
	t.Skipf("%s missing", what)
}

func python(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer").Run() == nil {
				return path
			}
		}
	}
	need(t, false, "python3-gi with GstRtspServer (gir1.2-gst-rtsp-server-1.0)")
	return ""
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// camera is a running GStreamer RTSP server.
type camera struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startCamera(t *testing.T, port int, codec string, auth ...string) *camera {
	t.Helper()
	py := python(t)
	args := append([]string{"testdata/camera.py", fmt.Sprint(port), codec}, auth...)
	cmd := exec.Command(py, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &camera{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("camera did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return c
}

func (c *camera) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Kill()
	<-c.done
}

// collect reads from sub for d and returns what came (released).
type seen struct {
	kind     remux.Kind
	ts       uint32
	key, hdr bool
	codec    remux.FourCC
	payload  []byte // video only
}

func collect(t *testing.T, sub *hub.Subscriber, d time.Duration) []seen {
	t.Helper()
	var got []seen
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		var batch []*remux.Message
		for {
			var err error
			batch, err = sub.Next(batch[:0])
			mu.Lock()
			for i, m := range batch {
				s := seen{m.Kind, m.Timestamp, m.IsKeyframe(), m.IsSequenceHeader(), m.Frame.Codec, nil}
				if m.Kind == remux.KindVideo {
					s.payload = append([]byte(nil), m.Payload...)
				}
				got = append(got, s)
				m.Release()
				batch[i] = nil
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(d)
	sub.Close()
	<-done
	return got
}

// checkMedia verifies a pulled camera stream: the video header before the
// first keyframe, the AAC header, monotonic timestamps, ~25 fps.
func checkMedia(t *testing.T, got []seen, video remux.FourCC) {
	t.Helper()
	var vhdr, ahdr, key bool
	var vframes, aframes int
	var first, last = map[remux.Kind]uint32{}, map[remux.Kind]uint32{}
	for _, s := range got {
		if !s.kind.IsMedia() {
			continue
		}
		if s.kind == remux.KindVideo {
			if s.codec != video {
				t.Fatalf("video codec %v, want %v", s.codec, video)
			}
			if s.hdr {
				vhdr = true
				continue
			}
			if !vhdr {
				t.Fatal("video frame before the video sequence header")
			}
			if !key && !s.key {
				t.Fatal("first video frame is not a keyframe")
			}
			key = true
			vframes++
		} else {
			if s.hdr {
				ahdr = true
				continue
			}
			if !ahdr {
				t.Fatal("audio frame before the AAC header")
			}
			aframes++
		}
		if l, ok := last[s.kind]; ok && s.ts < l {
			t.Fatalf("%v timestamps go back: %d after %d", s.kind, s.ts, l)
		}
		if _, ok := first[s.kind]; !ok {
			first[s.kind] = s.ts
		}
		last[s.kind] = s.ts
	}
	if vframes < 20 || aframes < 20 {
		t.Fatalf("video frames %d audio frames %d", vframes, aframes)
	}
	span := float64(last[remux.KindVideo]-first[remux.KindVideo]) / 1000
	fps := float64(vframes-1) / span
	if fps < 22 || fps > 28 {
		t.Errorf("frame rate %.1f, want ~25", fps)
	}
	// AAC at 48 kHz: 1024 samples a frame, 46.9 frames/s.
	aspan := float64(last[remux.KindAudio]-first[remux.KindAudio]) / 1000
	if r := float64(aframes-1) / aspan; r < 44 || r > 50 {
		t.Errorf("audio frame rate %.1f, want ~46.9", r)
	}
	// Audio and video share a timeline (RTP-Info): within 500 ms.
	if d := int64(first[remux.KindVideo]) - int64(first[remux.KindAudio]); d > 500 || d < -500 {
		t.Errorf("audio/video start %d / %d ms apart", first[remux.KindAudio], first[remux.KindVideo])
	}
	t.Logf("video %d frames at %.1f fps, audio %d frames", vframes, fps, aframes)
}

// rtmpOut serves the hub over RTMP for players.
type hubHandler struct{ h *hub.Hub }

func (hh hubHandler) OnConnect(*rtmp.ConnInfo) error { return nil }
func (hh hubHandler) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	return hh.h.Publish(ci.App, req.Name, hub.StreamConfig{GOPCache: true}, "rtmp")
}
func (hh hubHandler) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	return hh.h.Subscribe(ci.App, req.Name, hub.StreamConfig{GOPCache: true}), nil
}

func serveRTMP(t *testing.T, h *hub.Hub) string {
	t.Helper()
	srv := rtmp.NewServer(rtmp.ServerConfig{Logger: slog.New(slog.DiscardHandler)}, hubHandler{h})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, rtmp.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// ffprobeDecodes plays url with ffmpeg for a few seconds, decoding
// everything, and returns the codecs ffprobe reports.
func ffmpegDecodes(t *testing.T, url string, wantVideo string) {
	t.Helper()
	_, err := exec.LookPath("ffmpeg")
	need(t, err == nil, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	codecs := strings.Fields(string(out))
	if !strings.Contains(string(out), wantVideo) || !strings.Contains(string(out), "aac") {
		t.Fatalf("ffprobe codecs %v, want %s and aac", codecs, wantVideo)
	}
	out, err = exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", url, "-t", "3", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg decode: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("ffmpeg reported decode errors:\n%s", s)
	}
}

func testRTSP(t *testing.T, codec, transport string, auth bool) {
	port := freePort(t)
	var cred []string
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)
	if auth {
		cred = []string{"admin", "s3cret"}
		url = fmt.Sprintf("rtsp://admin:s3cret@127.0.0.1:%d/cam", port)
	}
	startCamera(t, port, codec, cred...)
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	if err := m.Start("live", "cam", Source{URL: url, Transport: transport}); err != nil {
		t.Fatal(err)
	}
	want := remux.CodecAVC
	if codec == "h265" {
		want = remux.CodecHEVC
	}
	got := collect(t, sub, 4*time.Second)
	checkMedia(t, got, want)
	st, _ := m.Lookup("live", "cam")
	if st.State != StatePulling || st.Kind != "rtsp" || strings.Contains(st.URL, "s3cret") {
		t.Errorf("status %+v", st)
	}
	if pub := h.Lookup("live", "cam").Stats(); !strings.HasPrefix(pub.Source, "rtsp rtsp://") || strings.Contains(pub.Source, "s3cret") {
		t.Errorf("hub source %q", pub.Source)
	}
	if codec == "h265" {
		// ffmpeg before 6.1 cannot read Enhanced RTMP: decode the pulled
		// HEVC as Annex B instead.
		hevcDecodes(t, got)
		if !ffmpegHasEnhancedRTMP() {
			t.Log("ffmpeg < 6.1: RTMP playback of HEVC not checked")
			return
		}
	}
	addr := serveRTMP(t, h)
	wantName := "h264"
	if codec == "h265" {
		wantName = "hevc"
	}
	ffmpegDecodes(t, "rtmp://"+addr+"/live/cam", wantName)
}

func TestRTSPH264AACOverTCP(t *testing.T) { testRTSP(t, "h264", "tcp", false) }
func TestRTSPH264AACOverUDP(t *testing.T) { testRTSP(t, "h264", "udp", false) }
func TestRTSPH265AACOverTCP(t *testing.T) { testRTSP(t, "h265", "tcp", false) }
func TestRTSPH265AACOverUDP(t *testing.T) { testRTSP(t, "h265", "udp", false) }
func TestRTSPDigestAuth(t *testing.T)     { testRTSP(t, "h264", "tcp", true) }

func ffmpegHasEnhancedRTMP() bool {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		return false
	}
	var major, minor int
	fmt.Sscanf(strings.TrimPrefix(strings.Fields(string(out))[2], "n"), "%d.%d", &major, &minor)
	return major > 6 || major == 6 && minor >= 1
}

// hevcDecodes writes the pulled HEVC (hvcC arrays, then frames) as Annex B
// and has ffmpeg decode it.
func hevcDecodes(t *testing.T, got []seen) {
	t.Helper()
	_, err := exec.LookPath("ffmpeg")
	need(t, err == nil, "ffmpeg")
	var annexB []byte
	sc := []byte{0, 0, 0, 1}
	for _, s := range got {
		if s.kind != remux.KindVideo {
			continue
		}
		if s.hdr {
			rec := s.payload[5:]
			n := int(rec[22])
			p := rec[23:]
			for range n {
				cnt := int(p[1])<<8 | int(p[2])
				p = p[3:]
				for range cnt {
					l := int(p[0])<<8 | int(p[1])
					annexB = append(append(annexB, sc...), p[2:2+l]...)
					p = p[2+l:]
				}
			}
			continue
		}
		b := s.payload[8:]
		for len(b) >= 4 {
			l := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			annexB = append(append(annexB, sc...), b[4:4+l]...)
			b = b[4+l:]
		}
	}
	f := t.TempDir() + "/pulled.hevc"
	if err := os.WriteFile(f, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-f", "hevc", "-i", f, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ffmpeg decode of pulled HEVC: %v\n%s", err, out)
	}
	out, _ = exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", f).CombinedOutput()
	if !strings.HasPrefix(strings.TrimSpace(string(out)), "hevc,320,240,") {
		t.Errorf("ffprobe of pulled HEVC: %s", out)
	}
	t.Logf("pulled HEVC decodes: %s", strings.TrimSpace(string(out)))
}

// TestCameraRestart stops the camera and starts it again on the same port:
// the pull comes back within the backoff bound and publishes a new session.
func TestCameraRestart(t *testing.T) {
	port := freePort(t)
	cam := startCamera(t, port, "h264")
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 2 * time.Second})
	defer m.Close()
	if err := m.Start("live", "cam", Source{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)}); err != nil {
		t.Fatal(err)
	}
	waitState := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if st, _ := m.Lookup("live", "cam"); st.State == want && (want != StatePulling || st.Messages > 0) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		st, _ := m.Lookup("live", "cam")
		t.Fatalf("state %q after %v, want %q (%+v)", st.State, within, want, st)
	}
	waitState(StatePulling, 10*time.Second)
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	cam.stop()
	waitState(StateBackoff, 5*time.Second)
	stopped := time.Now()
	startCamera(t, port, "h264")
	// MaxBackoff 1s (+ connect): back well within 5 s.
	waitState(StatePulling, 5*time.Second)
	t.Logf("back %v after the camera stopped", time.Since(stopped).Round(time.Millisecond))
	got := collect(t, sub, 2*time.Second)
	var starts int
	var keyAfter bool
	for _, s := range got {
		if s.kind == remux.KindStreamStart {
			starts++
			keyAfter = false
		}
		if s.key {
			keyAfter = true
		}
	}
	if starts < 1 || !keyAfter {
		t.Errorf("stream starts %d, keyframe after restart %v", starts, keyAfter)
	}
	if st, _ := m.Lookup("live", "cam"); st.Retries < 1 {
		t.Errorf("retries %d", st.Retries)
	}
}

// TestRTMPPull publishes a test pattern with ffmpeg to an RTMP server and
// pulls it into another hub over RTMP.
func TestRTMPPull(t *testing.T) {
	_, err := exec.LookPath("ffmpeg")
	need(t, err == nil, "ffmpeg")
	upstream := hub.New(slog.New(slog.DiscardHandler))
	addr := serveRTMP(t, upstream)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ff := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-c:v", "libx264", "-g", "25", "-tune", "zerolatency", "-preset", "ultrafast", "-c:a", "aac", "-f", "flv", "rtmp://"+addr+"/src/cam")
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); ff.Wait() }()
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	if err := m.Start("live", "cam", Source{URL: "rtmp://" + addr + "/src/cam?key=secret"}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, sub, 5*time.Second)
	checkMedia(t, got, remux.CodecAVC)
	if st, _ := m.Lookup("live", "cam"); st.Kind != "rtmp" || strings.Contains(st.URL, "secret") {
		t.Errorf("status %+v", st)
	}
}
