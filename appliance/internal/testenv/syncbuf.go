package testenv

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuf is a buffer several goroutines write to: a program's output, an
// appliance's log. With Max > 0 it keeps the first Max bytes and counts
// the rest, so that a chatty process cannot fill the memory of a long
// test; String says how much was dropped.
type SyncBuf struct {
	Max int

	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

// Write keeps what fits under Max and never fails, so that a writer (a
// process, a log handler) is never stopped by the buffer being full.
func (s *SyncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	if s.Max > 0 {
		n = max(0, min(n, s.Max-s.b.Len()))
	}
	s.b.Write(p[:n])
	s.dropped += len(p) - n
	return len(p), nil
}

func (s *SyncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped > 0 {
		return s.b.String() + fmt.Sprintf("\n[... %d more bytes dropped]", s.dropped)
	}
	return s.b.String()
}

// Len reports the bytes kept so far; a later Since(Len()) returns what was
// written after this point.
func (s *SyncBuf) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// Since returns what was kept after offset off (an earlier Len).
func (s *SyncBuf) Since(off int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off > s.b.Len() {
		return ""
	}
	return string(s.b.Bytes()[off:])
}

// WaitLine waits until one line of the buffer contains every one of subs,
// and returns it; it fails the test after timeout.
func (s *SyncBuf) WaitLine(t testing.TB, timeout time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range strings.Split(s.String(), "\n") {
			ok := true
			for _, sub := range subs {
				if !strings.Contains(l, sub) {
					ok = false
					break
				}
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q within %v", subs, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
