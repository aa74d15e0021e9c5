package pull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// collect reads from sub for d from the first keyframe and returns what
// came (released).
type seen struct {
	kind     remux.Kind
	ts       uint32
	cts      int32 // video: composition time offset, ms
	key, hdr bool
	codec    remux.FourCC
	payload  []byte // video only
}

func collect(t *testing.T, sub *hub.Subscriber, d time.Duration) []seen {
	t.Helper()
	var got []seen
	var mu sync.Mutex
	done := make(chan struct{})
	firstKey := make(chan struct{})
	var keySeen bool
	go func() {
		defer close(done)
		var batch []*remux.Message
		for {
			var err error
			batch, err = sub.Next(batch[:0])
			mu.Lock()
			for i, m := range batch {
				s := seen{m.Kind, m.Timestamp, m.Frame.CTS, m.IsKeyframe(), m.IsSequenceHeader(), m.Frame.Codec, nil}
				if m.Kind == remux.KindVideo {
					s.payload = append([]byte(nil), m.Payload...)
				}
				got = append(got, s)
				if s.key && !keySeen {
					keySeen = true
					close(firstKey)
				}
				m.Release()
				batch[i] = nil
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// The window opens at the first keyframe, so the time a loaded machine
	// takes to connect and set up does not eat into the frames counted.
	select {
	case <-firstKey:
	case <-done:
	case <-time.After(15 * time.Second):
	}
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
	// Audio and video share one timeline (gortsplib's PacketPTS): within 500 ms.
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
	return testenv.ServeRTMP(t, hubHandler{h}, nil)
}

// ffprobeDecodes plays url with ffmpeg for a few seconds, decoding
// everything, and returns the codecs ffprobe reports.
func ffmpegDecodes(t *testing.T, url string, wantVideo string) {
	t.Helper()
	testenv.NeedTool(t, "ffmpeg")
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
	port := testenv.FreePort(t)
	var cred []string
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)
	if auth {
		cred = []string{"admin", "s3cret"}
		url = fmt.Sprintf("rtsp://admin:s3cret@127.0.0.1:%d/cam", port)
	}
	testenv.StartCamera(t, port, codec, cred...)
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	recorded := startRecording(t, h, recorder.FormatFMP4)
	if err := m.Start("live", "cam", Source{URL: url, Transport: transport}); err != nil {
		t.Fatal(err)
	}
	want := remux.CodecAVC
	wantName := "h264"
	if codec == "h265" {
		want, wantName = remux.CodecHEVC, "hevc"
	}
	got := collect(t, sub, 4*time.Second)
	// The recording decodes: ~4 s at 25 fps, from the first keyframe.
	for _, f := range recorded() {
		recordingDecodes(t, f, wantName, 75)
	}
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
	testenv.NeedTool(t, "ffmpeg")
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

// waitPullState waits up to within for the pull of live/cam to be in
// state want, and fails the test if it is not; StatePulling counts only
// once a message has come through, so that a restarted pull is seen
// delivering again, not just connected.
func waitPullState(t *testing.T, m *Manager, want string, within time.Duration) {
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

// TestCameraRestart stops the camera and starts it again on the same port:
// the pull comes back within the backoff bound and publishes a new session.
func TestCameraRestart(t *testing.T) {
	port := testenv.FreePort(t)
	cam := testenv.StartCamera(t, port, "h264")
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 2 * time.Second})
	defer m.Close()
	if err := m.Start("live", "cam", Source{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)}); err != nil {
		t.Fatal(err)
	}
	waitPullState(t, m, StatePulling, 10*time.Second)
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	cam.Stop()
	waitPullState(t, m, StateBackoff, 5*time.Second)
	stopped := time.Now()
	testenv.StartCamera(t, port, "h264")
	// MaxBackoff 1s (+ connect): back well within 5 s.
	waitPullState(t, m, StatePulling, 5*time.Second)
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
	testenv.NeedTool(t, "ffmpeg")
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

// checkBFrames verifies the timing of pulled video with B-frames: DTS
// strictly increasing, composition offsets >= 0 and not all 0, and the
// presentation times (DTS + CTS) those of a 25 fps camera: distinct, 40 ms
// apart once sorted (up to the last DTS: the B-frames presented before the
// last frames collected had not come yet).
func checkBFrames(t *testing.T, got []seen) {
	t.Helper()
	var pts []int64
	last := int64(-1)
	nonZero := 0
	for _, s := range got {
		if s.kind != remux.KindVideo || s.hdr {
			continue
		}
		if int64(s.ts) <= last || s.cts < 0 {
			t.Fatalf("frame %d: dts %d after %d, cts %d", len(pts), s.ts, last, s.cts)
		}
		last = int64(s.ts)
		if s.cts != 0 {
			nonZero++
		}
		pts = append(pts, int64(s.ts)+int64(s.cts))
	}
	if nonZero == 0 {
		t.Fatalf("no composition offsets in %d frames: B-frames lost their timing", len(pts))
	}
	slices.Sort(pts)
	pts = pts[:sort.Search(len(pts), func(i int) bool { return pts[i] > last })]
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; d < 35 || d > 45 {
			t.Errorf("presentation times %d, %d: %d ms apart", pts[i-1], pts[i], d)
		}
	}
	t.Logf("%d frames, %d with a composition offset", len(pts), nonZero)
}

// checkFileTiming has ffmpeg copy a recording or stream (2 s of it) to an
// MP4, whose muxer insists on increasing DTS, and decode the copy: no
// timestamp complaints, no decode errors, and B-frames in it.
func checkFileTiming(t *testing.T, input string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cp := t.TempDir() + "/copy.mp4"
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "warning", "-i", input, "-t", "2", "-c", "copy", "-f", "mp4", "-y", cp).CombinedOutput()
	if err != nil || strings.Contains(strings.ToLower(string(out)), "monoton") {
		t.Errorf("ffmpeg copy of %s: %v\n%s", input, err, out)
	}
	out, err = exec.CommandContext(ctx, "ffmpeg", "-v", "warning", "-xerror", "-i", cp, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("ffmpeg decode of %s: %v\n%s", input, err, out)
	}
	out, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pict_type", "-of", "csv=p=0", cp).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "B") {
		t.Errorf("ffprobe finds no B-frames in %s: %v\n%.300s", input, err, out)
	}
}

// startRecording records live/cam of h into a temporary directory in
// format; the function it returns stops the recorder and returns the
// segment files (the test fails when there are none).
func startRecording(t *testing.T, h *hub.Hub, format string) func() []string {
	t.Helper()
	dir := t.TempDir()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer sub.Close()
		done <- recorder.Record(ctx, sub, "live", "cam", recorder.Config{Dir: dir, Format: format, Logger: slog.New(slog.DiscardHandler)})
	}()
	return func() []string {
		t.Helper()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("recorder: %v", err)
		}
		var files []string
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && (strings.HasSuffix(p, ".mp4") || strings.HasSuffix(p, ".flv")) {
				files = append(files, p)
			}
			return nil
		})
		if len(files) == 0 {
			t.Fatal("no recording")
		}
		return files
	}
}

// recordingDecodes checks that a recorded segment of the camera decodes
// without an error and holds at least minFrames frames of codec (ffprobe's
// name: h264, hevc).
func recordingDecodes(t *testing.T, file, codec string, minFrames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("ffmpeg decode of the recording %s: %v\n%s", file, err, out)
	}
	out, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", file).CombinedOutput()
	var name string
	var frames int
	if _, serr := fmt.Sscanf(strings.ReplaceAll(strings.TrimSpace(string(out)), ",", " "), "%s %d", &name, &frames); err != nil || serr != nil || name != codec || frames < minFrames {
		t.Errorf("ffprobe of the recording %s: %q (%v), want %s with at least %d frames", file, out, err, codec, minFrames)
	}
	t.Logf("recording %s: %s, %d frames", filepath.Base(file), name, frames)
}

// testBFrames pulls a camera whose encoder uses B-frames: the arrival
// order is decode order and RTP carries only presentation times, from
// which the pull derives DTS and CTS.
func testBFrames(t *testing.T, codec remux.FourCC, venc string) {
	testenv.NeedTool(t, "ffmpeg")
	port := testenv.FreePort(t)
	testenv.StartCamera(t, port, venc)
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	// Record it too: an MP4 keeps DTS and CTS for ffmpeg to check, whatever
	// its version (ffmpeg < 6.1 cannot read HEVC over RTMP).
	recorded := startRecording(t, h, recorder.FormatMP4)
	if err := m.Start("live", "cam", Source{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, sub, 3*time.Second)
	files := recorded()
	checkMedia(t, got, codec)
	checkBFrames(t, got)
	for _, f := range files {
		checkFileTiming(t, f)
	}
	if codec == remux.CodecAVC {
		// And played over RTMP.
		addr := serveRTMP(t, h)
		checkFileTiming(t, "rtmp://"+addr+"/live/cam")
	}
}

func TestRTSPH264BFrames(t *testing.T) {
	// Without the profile caps the RTSP server negotiates constrained
	// baseline, which has no B-frames.
	testBFrames(t, remux.CodecAVC, "x264enc bframes=2 b-adapt=false key-int-max=25 speed-preset=ultrafast threads=1 ! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96")
}

func TestRTSPH265BFrames(t *testing.T) {
	// x265's B-pyramid: reorder depth 2.
	testBFrames(t, remux.CodecHEVC, `x265enc key-int-max=25 speed-preset=ultrafast option-string="bframes=2:b-adapt=0:frame-threads=1:pools=1" ! rtph265pay name=pay0 pt=96 config-interval=-1`)
}

// TestRTSPReceiverReportsAndTeardown checks, against gortsplib's server,
// that each track gets RTCP receiver reports (over the interleaved RTCP
// channel or the RTCP port) carrying the camera's SSRC, nothing lost and
// the LSR of its Sender Report; and that stopping the pull (Stop over TCP,
// Close over UDP) sends TEARDOWN before the connection closes. The client
// reports every 5 s (gortsplib's fixed period): this test takes ~6 s a
// transport.
func TestRTSPReceiverReportsAndTeardown(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			cam := startLibCam(t, libCamConfig{codec: "h264"})
			h := hub.New(slog.New(slog.DiscardHandler))
			m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
			defer m.Close()
			if err := m.Start("live", "cam", Source{URL: cam.url(), Transport: transport}); err != nil {
				t.Fatal(err)
			}
			// One report per track, from 5 s on.
			var withLSR int
			deadline := time.Now().Add(8 * time.Second)
			for withLSR < 2 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				withLSR = cam.checkRRs(t)
			}
			if withLSR < 2 {
				t.Fatalf("%d receiver reports, %d blocks with the LSR", len(cam.rrs), withLSR)
			}
			if st, _ := m.Lookup("live", "cam"); st.State != StatePulling || st.Messages == 0 {
				t.Fatalf("status %+v", st)
			}
			start := time.Now()
			if transport == "tcp" {
				m.Stop("live", "cam")
			} else {
				m.Close()
			}
			took := time.Since(start)
			deadline = time.Now().Add(2 * time.Second)
			for {
				cam.mu.Lock()
				closed, tds, tdAt, methods, conns := cam.closedAt, cam.teardowns, cam.torndown, cam.methods, cam.conns
				cam.mu.Unlock()
				if !closed.IsZero() {
					if tds != 1 || tdAt.After(closed) {
						t.Errorf("%d TEARDOWNs, at %v, connection closed at %v; requests %v", tds, tdAt, closed, methods)
					}
					if conns != 1 {
						t.Errorf("%d connections", conns)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("connection not closed after stop; requests %v", methods)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if took > time.Second {
				t.Errorf("stop took %v", took)
			}
		})
	}
}
