package upload

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// Two readers sharing a 4 MiB/s limiter read 8 MiB in 2 s, within 10%:
// max_rate bounds all uploads together, and does not undershoot.
func TestLimiterRate(t *testing.T) {
	const rate, each = 4 << 20, 4 << 20
	var l limiter
	l.setRate(rate)
	var total int64
	var mu sync.Mutex
	count := func(n int) { mu.Lock(); total += int64(n); mu.Unlock() }
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &limitedReader{ctx: context.Background(), r: bytes.NewReader(make([]byte, each)), l: &l, count: count}
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0).Seconds()
	got := float64(total) / took
	t.Logf("%d bytes in %.3f s: %.0f bytes/s for %d", total, took, got, rate)
	// The bucket starts empty but may hold a quarter second's worth.
	if got > rate*1.1 || got < rate*0.9 {
		t.Fatalf("rate %.0f bytes/s, want %d within 10%%", got, rate)
	}
}

// A cancelled context ends a wait at once.
func TestLimiterCancel(t *testing.T) {
	var l limiter
	l.setRate(MinRate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.wait(context.Background(), rateChunk) // spend what there is
	if err := l.wait(ctx, rateChunk); err == nil {
		t.Fatal("wait returned nil on a cancelled context")
	}
}
