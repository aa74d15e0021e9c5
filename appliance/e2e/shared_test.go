//go:build linux

package e2e

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

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
	testenv.NeedTool(t, "ffmpeg")
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
