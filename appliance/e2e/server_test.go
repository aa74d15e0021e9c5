//go:build linux

package e2e

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// The in-process appliance most tests drive, its log kept for failure
// reports.

type testServer struct {
	a       *appliance.Appliance
	addr    string
	log     *testenv.SyncBuf // the appliance's slog output (text, debug level)
	storage string           // storage.dir; removed by close
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
	srv, err := serve(cfg)
	if err != nil {
		os.RemoveAll(storage)
		return nil, err
	}
	return srv, nil
}

// serve starts an appliance on cfg, keeping the first 32 MB of its log
// (text, debug level).
func serve(cfg *appliance.Config) (*testServer, error) {
	logs := &testenv.SyncBuf{Max: 32 << 20}
	a := appliance.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := a.Start(); err != nil {
		return nil, err
	}
	return &testServer{a: a, addr: a.RTMPAddr().String(), log: logs, storage: cfg.Storage.Dir}, nil
}

// startServer is serve for one test: a failed start fails the test, and
// the appliance must shut down cleanly when the test ends. Its storage,
// chosen by cfg, is left to whoever chose it.
func startServer(t testing.TB, cfg *appliance.Config) *testServer {
	t.Helper()
	srv, err := serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.a.Shutdown(10 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// startTestServer is newTestServer for one test: a failed start fails
// the test, and the appliance is closed when the test ends.
func startTestServer(t testing.TB) *testServer {
	t.Helper()
	s, err := newTestServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s
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
			t.Logf("server log during this test:\n%s", excerpt(s.log.Since(off), 300, nil))
		}
	})
	return func() string { return s.log.Since(off) }
}

func (s *testServer) stats(app, name string) (hub.Stats, bool) {
	st := s.a.Hub().Lookup(app, name)
	if st == nil {
		return hub.Stats{}, false
	}
	return st.Stats(), true
}

// waitPublishing is waitVideo on this appliance.
func (s *testServer) waitPublishing(t testing.TB, app, name string, pub *toolRun, timeout time.Duration) hub.Stats {
	t.Helper()
	return waitVideo(t, s.a, app, name, pub, timeout)
}

// waitVideo polls a's hub until app/name is published and carries video
// (a publish, or a pull). pub, if not nil, is the publisher upstream: its
// early exit fails at once, and its state is told on a timeout.
func waitVideo(t testing.TB, a *appliance.Appliance, app, name string, pub *toolRun, timeout time.Duration) hub.Stats {
	t.Helper()
	stats := func() (hub.Stats, bool) {
		if st := a.Hub().Lookup(app, name); st != nil {
			return st.Stats(), true
		}
		return hub.Stats{}, false
	}
	deadline := time.Now().Add(timeout)
	for {
		if st, ok := stats(); ok && st.Publishing && st.MessagesIn >= 10 && st.VideoCodec != 0 {
			return st
		}
		if pub != nil && pub.exited() {
			t.Fatalf("publisher exited before %s/%s was published:\n%s", app, name, pub.report())
		}
		if time.Now().After(deadline) {
			st, ok := stats()
			publisher := "none"
			if pub != nil {
				publisher = pub.status()
			}
			t.Fatalf("%s/%s not published with video after %v (exists=%v stats=%+v; publisher %s)", app, name, timeout, ok, st, publisher)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
