// Package apptest starts an in-process appliance for a test and talks to
// its HTTP API, for the unit tests of package appliance and the
// end-to-end tests in appliance/e2e alike. It imports appliance, so
// unlike testenv it cannot serve the tests of appliance's sub-packages
// (appliance imports them: a cycle).
package apptest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// Start runs an appliance on the embedded defaults, changed by mutate,
// on loopback ports chosen by the kernel and with storage in a temporary
// directory (see StartConfig).
func Start(t testing.TB, mutate func(*appliance.Config)) (*appliance.Appliance, *testenv.SyncBuf) {
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
	return StartConfig(t, cfg)
}

// StartConfig runs an appliance on cfg until the test ends, when it must
// shut down cleanly. Its log (text, debug level) is returned and printed
// when the test fails.
func StartConfig(t testing.TB, cfg *appliance.Config) (*appliance.Appliance, *testenv.SyncBuf) {
	t.Helper()
	if cfg.Storage.Dir == "./recordings" {
		cfg.Storage.Dir = t.TempDir() // keep recordings out of the source tree
	}
	logs := &testenv.SyncBuf{}
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
