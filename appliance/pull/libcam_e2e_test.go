package pull

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
)

// testLibCam pulls gortsplib's server, a second camera implementation
// beside GStreamer's: real x264/x265 video with B-frames and AAC, checked
// as the GStreamer pulls are (headers first, keyframe first, monotonic
// timestamps, 25 fps, 46.9 AAC frames/s, A/V start together), with DTS and
// CTS that give the encoder's presentation times back, and recorded into
// an MP4 that ffmpeg copies and decodes without timestamp complaints.
func testLibCam(t *testing.T, codec, transport string, auth bool) {
	cfg := libCamConfig{codec: codec}
	if auth {
		cfg.user, cfg.pass = "admin", "s3cret"
	}
	cam := startLibCam(t, cfg)
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	recorded := startRecording(t, h, recorder.FormatMP4)
	if err := m.Start("live", "cam", Source{URL: cam.url(), Transport: transport}); err != nil {
		t.Fatal(err)
	}
	want, wantName := remux.CodecAVC, "h264"
	if codec == "h265" {
		want, wantName = remux.CodecHEVC, "hevc"
	}
	got := collect(t, sub, 3*time.Second)
	files := recorded()
	checkMedia(t, got, want)
	checkBFrames(t, got)
	for _, f := range files {
		recordingDecodes(t, f, wantName, 50)
		checkFileTiming(t, f)
	}
	st, _ := m.Lookup("live", "cam")
	if st.State != StatePulling || st.Transport != transport || strings.Contains(st.URL, "s3cret") {
		t.Errorf("status %+v", st)
	}
	cam.mu.Lock()
	methods := strings.Join(cam.methods, " ")
	cam.mu.Unlock()
	if auth && strings.Count(methods, "DESCRIBE") < 2 {
		t.Errorf("requests %s: want a DESCRIBE refused, then one with Digest credentials", methods)
	}
}

func TestLibCamH264OverTCP(t *testing.T) { testLibCam(t, "h264", "tcp", false) }
func TestLibCamH264OverUDP(t *testing.T) { testLibCam(t, "h264", "udp", false) }
func TestLibCamH265OverTCP(t *testing.T) { testLibCam(t, "h265", "tcp", false) }
func TestLibCamH265OverUDP(t *testing.T) { testLibCam(t, "h265", "udp", false) }
func TestLibCamDigestAuth(t *testing.T)  { testLibCam(t, "h264", "tcp", true) }

// TestLibCamWrongPassword: a camera refusing the credentials leaves the
// pull backing off with the refusal as its error, the password redacted.
func TestLibCamWrongPassword(t *testing.T) {
	cam := startLibCam(t, libCamConfig{codec: "h264", user: "admin", pass: "s3cret"})
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: time.Second, MaxBackoff: time.Second, Timeout: 5 * time.Second})
	defer m.Close()
	if err := m.Start("live", "cam", Source{URL: strings.Replace(cam.url(), "s3cret", "wrongpw", 1)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := m.Lookup("live", "cam")
		if st.LastError != "" {
			if st.State == StatePulling || !strings.Contains(st.LastError, "401") || strings.Contains(st.LastError, "wrongpw") {
				t.Errorf("status %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error after 5 s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLibCamRestart: gortsplib's camera goes away and comes back on the
// same address (over UDP, where GStreamer's restart test uses TCP): the
// pull backs off, resumes, and the recording goes on in a new segment that
// starts with a keyframe and decodes.
func TestLibCamRestart(t *testing.T) {
	cam := startLibCam(t, libCamConfig{codec: "h264"})
	h := hub.New(slog.New(slog.DiscardHandler))
	// The recorder stays subscribed across the restart, as the
	// appliance's does with its republish grace.
	grace := func(string) hub.StreamConfig {
		return hub.StreamConfig{GOPCache: true, RepublishGrace: 5 * time.Second}
	}
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 2 * time.Second,
		StreamConfig: grace})
	defer m.Close()
	recorded := startRecording(t, h, recorder.FormatFLV)
	if err := m.Start("live", "cam", Source{URL: cam.url(), Transport: "udp"}); err != nil {
		t.Fatal(err)
	}
	waitPullState(t, m, StatePulling, 5*time.Second)
	time.Sleep(2 * time.Second) // a segment worth having: from the first keyframe (1 s GOPs)
	cam.stop()
	waitPullState(t, m, StateBackoff, 5*time.Second)
	startLibCam(t, libCamConfig{codec: "h264", addr: cam.addr})
	waitPullState(t, m, StatePulling, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	files := recorded()
	if len(files) < 2 {
		t.Fatalf("segments %v, want one before and one after the restart", files)
	}
	for _, f := range files {
		recordingDecodes(t, f, "h264", 10)
	}
	if st, _ := m.Lookup("live", "cam"); st.Retries < 1 {
		t.Errorf("retries %d", st.Retries)
	}
	t.Logf("segments %d: %s ...", len(files), filepath.Base(files[0]))
}
