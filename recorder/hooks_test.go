package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var hookSeg = Segment{
	Path: "/srv/rec/live/cam 1/2025-03-04_05-06-07.mp4", App: "live", Stream: "cam 1",
	Start:    time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)),
	Duration: 600040 * time.Millisecond, Bytes: 123456789, Format: FormatFMP4,
}

func needShell(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs sh")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
}

func closeHook(t *testing.T, h *Hook) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestHookPOST(t *testing.T) {
	t.Parallel()
	segErr := hookSeg
	segErr.Err = errors.New("disk full")
	for _, tc := range []struct {
		name     string
		seg      Segment
		status   int
		want     map[string]any
		failures int64
	}{
		{"ok", hookSeg, http.StatusNoContent, map[string]any{
			"path": hookSeg.Path, "app": "live", "stream": "cam 1", "start": "2025-03-04T05:06:07+01:00",
			"duration_seconds": 600.04, "bytes": 123456789.0, "format": "fmp4"}, 0},
		{"segment cut by an error", segErr, http.StatusOK, map[string]any{"error": "disk full"}, 0},
		{"server error counts as failure", hookSeg, http.StatusInternalServerError, map[string]any{"app": "live"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan map[string]any, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m map[string]any
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
				}
				if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
					t.Error(err)
				}
				got <- m
				w.WriteHeader(tc.status)
				io.WriteString(w, "response body")
			}))
			defer srv.Close()
			h := &Hook{URL: srv.URL, Logger: testLogger(t)}
			h.Run(tc.seg)
			closeHook(t, h)
			m := <-got
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %#v, want %#v (payload %v)", k, m[k], v, m)
				}
			}
			if tc.seg.Err == nil {
				if _, ok := m["error"]; ok {
					t.Errorf("error field without an error: %v", m)
				}
			}
			if h.Runs.Load() != 1 || h.Failures.Load() != tc.failures || h.Dropped.Load() != 0 {
				t.Errorf("runs %d failures %d dropped %d", h.Runs.Load(), h.Failures.Load(), h.Dropped.Load())
			}
		})
	}
}

func TestHookCommand(t *testing.T) {
	t.Parallel()
	needShell(t)
	for _, tc := range []struct {
		name     string
		args     func(out string) []string // the command, writing to out
		want     string
		failures int64
	}{
		{"env and placeholder in a script", func(out string) []string {
			return []string{"sh", "-c", `echo "$TAPEDECK_SEGMENT_PATH {path}" > "$0"`, out}
		}, hookSeg.Path + " " + hookSeg.Path + "\n", 0},
		{"placeholders in each arg", func(out string) []string {
			return []string{"sh", "-c", `out=$0; printf '%s|' "$@" > "$out"`, out,
				"{path}", "{app}", "{stream}", "{start}", "{duration}", "{bytes}", "{format}", "x={app}/{stream}"}
		}, hookSeg.Path + "|live|cam 1|2025-03-04T05:06:07+01:00|600.040|123456789|fmp4|x=live/cam 1|", 0},
		{"every env variable", func(out string) []string {
			return []string{"sh", "-c", `printf '%s|' "$TAPEDECK_SEGMENT_APP" "$TAPEDECK_SEGMENT_STREAM" "$TAPEDECK_SEGMENT_START" "$TAPEDECK_SEGMENT_DURATION" "$TAPEDECK_SEGMENT_BYTES" "$TAPEDECK_SEGMENT_FORMAT" > "$0"`, out}
		}, "live|cam 1|2025-03-04T05:06:07+01:00|600.040|123456789|fmp4|", 0},
		{"failing command", func(out string) []string {
			return []string{"sh", "-c", `echo partial > "$0"; echo oops >&2; exit 3`, out}
		}, "partial\n", 1},
		{"missing program", func(out string) []string {
			return []string{filepath.Join(filepath.Dir(out), "no-such-program")}
		}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			h := &Hook{Command: tc.args(out), Logger: testLogger(t)}
			h.Run(hookSeg)
			closeHook(t, h)
			b, _ := os.ReadFile(out)
			if string(b) != tc.want {
				t.Errorf("command wrote %q, want %q", b, tc.want)
			}
			if h.Runs.Load() != 1 || h.Failures.Load() != tc.failures {
				t.Errorf("runs %d failures %d", h.Runs.Load(), h.Failures.Load())
			}
		})
	}
}

// Both a POST and a command for one segment: one run, both done.
func TestHookBoth(t *testing.T) {
	t.Parallel()
	needShell(t)
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "out")
	h := &Hook{URL: srv.URL, Command: []string{"sh", "-c", `echo done > "$0"`, out}, Logger: testLogger(t)}
	h.Run(hookSeg)
	h.Run(Segment{Path: "removed.mp4"}) // Bytes 0: the file is gone, skipped
	closeHook(t, h)
	if b, _ := os.ReadFile(out); string(b) != "done\n" || posts.Load() != 1 || h.Runs.Load() != 1 {
		t.Errorf("command wrote %q, %d posts, %d runs", b, posts.Load(), h.Runs.Load())
	}
	(&Hook{}).Run(hookSeg) // nothing configured: no-op
}

// Slow hooks never block Run: beyond Concurrency they queue, beyond the
// queue they are dropped and counted, and Run still returns at once.
func TestHookNeverBlocks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	h := &Hook{URL: srv.URL, Concurrency: 1, Logger: testLogger(t)}
	h.Run(hookSeg)
	<-entered // the only slot is busy
	t0 := time.Now()
	for range HookQueue + 5 {
		h.Run(hookSeg)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("%d Run calls took %v", HookQueue+5, d)
	}
	if h.Dropped.Load() != 5 {
		t.Errorf("dropped %d, want 5", h.Dropped.Load())
	}
	// Shutdown with hooks still hanging: Close gives up at its deadline,
	// cancels the running one and drops the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want the deadline", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if h.Runs.Load() != 1 || h.Failures.Load() != 1 || h.Dropped.Load() != 5+HookQueue || hits.Load() != 1 {
		t.Errorf("runs %d failures %d dropped %d hits %d", h.Runs.Load(), h.Failures.Load(), h.Dropped.Load(), hits.Load())
	}
	h.Run(hookSeg) // after Close: dropped at once
	if h.Dropped.Load() != 6+HookQueue {
		t.Errorf("Run after Close: dropped %d", h.Dropped.Load())
	}
}

// Queued hooks all run, Concurrency at a time, and Close waits for them.
func TestHookConcurrency(t *testing.T) {
	t.Parallel()
	var running, peak, hits atomic.Int64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		mu.Lock()
		peak.Store(max(peak.Load(), n))
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		hits.Add(1)
	}))
	defer srv.Close()
	h := &Hook{URL: srv.URL, Concurrency: 3, Logger: testLogger(t)}
	for range 30 {
		h.Run(hookSeg)
	}
	closeHook(t, h)
	if hits.Load() != 30 || h.Runs.Load() != 30 || h.Dropped.Load() != 0 || peak.Load() != 3 {
		t.Errorf("hits %d runs %d dropped %d peak concurrency %d (want 3)", hits.Load(), h.Runs.Load(), h.Dropped.Load(), peak.Load())
	}
}

// A hanging command is killed at its timeout, children included.
func TestHookTimeout(t *testing.T) {
	t.Parallel()
	needShell(t)
	for _, tc := range []struct {
		name   string
		script string
	}{
		{"hanging command", `sleep 30; echo late > "$0"`},
		{"hanging child holding the output", `(sleep 30; echo late > "$0") & wait`},
		{"ignores TERM", `trap '' TERM; sleep 30; echo late > "$0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			h := &Hook{Command: []string{"sh", "-c", tc.script, out}, Timeout: 300 * time.Millisecond, Logger: testLogger(t)}
			t0 := time.Now()
			h.Run(hookSeg)
			if d := time.Since(t0); d > 100*time.Millisecond {
				t.Errorf("Run took %v", d)
			}
			closeHook(t, h)
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("hook ran %v with a 300ms timeout", d)
			}
			if h.Failures.Load() != 1 {
				t.Errorf("failures %d", h.Failures.Load())
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := os.Stat(out); err == nil {
				t.Error("the command went on after its timeout")
			}
		})
	}
}

// A POST to a server that never answers times out too.
func TestHookPOSTTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	var logs strings.Builder
	var mu sync.Mutex
	h := &Hook{URL: srv.URL, Timeout: 200 * time.Millisecond, Logger: testLoggerTo(&mu, &logs)}
	t0 := time.Now()
	h.Run(hookSeg)
	closeHook(t, h)
	if d := time.Since(t0); d > 5*time.Second || h.Failures.Load() != 1 {
		t.Errorf("took %v, failures %d", d, h.Failures.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "timed out") {
		t.Errorf("log does not say it timed out:\n%s", logs.String())
	}
}

// testLoggerTo logs into w, under mu.
func testLoggerTo(mu *sync.Mutex, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, w}, nil))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
