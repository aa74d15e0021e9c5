package pull

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// testTLS returns a server TLS config with a certificate for localhost and
// 127.0.0.1, and the pool of the test CA that signed it.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	pool, _, certFile, keyFile := testenv.MakeCerts(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pool
}

// serveRTMPS serves the hub over RTMPS (TLS on every connection).
func serveRTMPS(t *testing.T, h *hub.Hub, tc *tls.Config) string {
	t.Helper()
	return testenv.ServeRTMP(t, hubHandler{h}, tc)
}

// videoFrames counts the video frames (not sequence headers) in got.
func videoFrames(got []seen) int {
	n := 0
	for _, s := range got {
		if s.kind == remux.KindVideo && !s.hdr {
			n++
		}
	}
	return n
}

// checkTrustedPull pulls url into live/cam with pool's CA trusted on top
// of the system roots, and checks that it plays as a source of kind: the
// same check for RTSPS and RTMPS, which differ only in the URL.
func checkTrustedPull(t *testing.T, pool *x509.CertPool, url, kind string) {
	t.Helper()
	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: pool}})
	defer m.Close()
	sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
	if err := m.Start("live", "cam", Source{URL: url}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, sub, 1500*time.Millisecond)
	st, _ := m.Lookup("live", "cam")
	if st.State != StatePulling || st.Kind != kind || st.LastError != "" || st.Messages == 0 {
		t.Errorf("status %+v", st)
	}
	if n := videoFrames(got); n < 10 {
		t.Errorf("%d video frames in 1.5s, want ~25 (from the first keyframe)", n)
	}
}

// checkUntrusted waits for the pull of live/cam to fail, and checks that
// it failed on the certificate and never delivered anything.
func checkUntrusted(t *testing.T, m *Manager, h *hub.Hub, sub *hub.Subscriber) {
	t.Helper()
	var st Status
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ = m.Lookup("live", "cam")
		if st.LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull with an untrusted certificate has no error: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(st.LastError, "certificate") || !strings.Contains(st.LastError, "tls") {
		t.Errorf("last error %q, want a TLS certificate error", st.LastError)
	}
	got := collect(t, sub, 500*time.Millisecond)
	st, _ = m.Lookup("live", "cam")
	if st.State == StatePulling || st.Messages != 0 || len(got) != 0 {
		t.Errorf("untrusted source delivered: status %+v, %d messages to a player", st, len(got))
	}
	if s := h.Lookup("live", "cam"); s != nil && s.Stats().Publishing {
		t.Error("untrusted source is published in the hub")
	}
}

// TestRTSPSPull pulls from an rtsps:// camera whose certificate comes from
// its own CA: with the CA in Options.TLSConfig (on top of the system
// roots) the pull plays over TLS; with the system roots alone it fails on
// the certificate and delivers nothing.
func TestRTSPSPull(t *testing.T) {
	srvTLS, pool := testTLS(t)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run("trusted/"+host, func(t *testing.T) {
			cam := startLibCam(t, libCamConfig{codec: "h264", tls: srvTLS})
			_, port, _ := net.SplitHostPort(cam.addr)
			checkTrustedPull(t, pool, "rtsps://"+net.JoinHostPort(host, port)+"/cam", "rtsp")
			cam.mu.Lock()
			methods := strings.Join(cam.methods, " ")
			cam.mu.Unlock()
			if !strings.HasPrefix(methods, "OPTIONS DESCRIBE SETUP SETUP PLAY") {
				t.Errorf("requests over TLS: %s", methods)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		cam := startLibCam(t, libCamConfig{codec: "h264", tls: srvTLS})
		h := hub.New(slog.New(slog.DiscardHandler))
		m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: time.Second, MaxBackoff: time.Second, Timeout: 5 * time.Second})
		defer m.Close()
		sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
		if err := m.Start("live", "cam", Source{URL: cam.url()}); err != nil {
			t.Fatal(err)
		}
		checkUntrusted(t, m, h, sub)
		cam.mu.Lock()
		defer cam.mu.Unlock()
		if len(cam.methods) != 0 {
			t.Errorf("requests sent to an untrusted camera: %v", cam.methods)
		}
	})
}

// TestRTMPSPull pulls over rtmps:// from a server whose certificate comes
// from a private CA, with and without that CA in Options.TLSConfig.
func TestRTMPSPull(t *testing.T) {
	srvTLS, pool := testTLS(t)
	upstream := hub.New(slog.New(slog.DiscardHandler))
	addr := serveRTMPS(t, upstream, srvTLS)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedUpstream(ctx, t, upstream, "src", "cam")

	// Schemes are case-insensitive: RTMPS:// is TLS too.
	for _, scheme := range []string{"rtmps", "RTMPS"} {
		t.Run("trusted "+scheme, func(t *testing.T) {
			checkTrustedPull(t, pool, scheme+"://"+addr+"/src/cam", "rtmp")
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		h := hub.New(slog.New(slog.DiscardHandler))
		m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: time.Second, MaxBackoff: time.Second, Timeout: 5 * time.Second})
		defer m.Close()
		sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
		if err := m.Start("live", "cam", Source{URL: "rtmps://" + addr + "/src/cam"}); err != nil {
			t.Fatal(err)
		}
		checkUntrusted(t, m, h, sub)
	})
}

// TestRTSPSOverUDPRefused: rtsps with UDP media would need SRTP.
func TestRTSPSOverUDPRefused(t *testing.T) {
	for _, src := range []Source{
		{URL: "rtsps://cam/x", Transport: "udp"},
	} {
		err := Validate(src)
		if err == nil || !strings.Contains(err.Error(), "rtsps works over tcp only") {
			t.Errorf("Validate(%+v) = %v", src, err)
		}
	}
	for _, src := range []Source{
		{URL: "rtsps://cam/x"}, {URL: "rtsps://cam/x", Transport: "tcp"}, {URL: "rtsp://cam/x", Transport: "udp"},
	} {
		if err := Validate(src); err != nil {
			t.Errorf("Validate(%+v) = %v", src, err)
		}
	}
	m := NewManager(hub.New(slog.New(slog.DiscardHandler)), Options{Logger: slog.New(slog.DiscardHandler)})
	defer m.Close()
	if err := m.Start("live", "cam", Source{URL: "rtsps://127.0.0.1:1/x", Transport: "udp"}); err == nil {
		t.Error("Start accepted rtsps over udp")
	}
	if _, ok := m.Lookup("live", "cam"); ok {
		t.Error("a refused pull is listed")
	}
}
