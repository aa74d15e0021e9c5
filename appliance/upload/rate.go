package upload

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// rateChunk is the most one read takes from the bucket at a time, so the
// bytes flow evenly rather than in part-sized bursts.
const rateChunk = 32 << 10

// limiter is a token bucket of rate bytes/s shared by every upload, so
// uploads leave the uplink to the live pushes. The bucket holds at most
// a quarter of a second's worth: a pause does not buy a burst.
type limiter struct {
	mu     sync.Mutex
	rate   int64 // bytes/s; 0: unlimited
	tokens float64
	last   time.Time
}

// setRate changes the rate (a reload).
func (l *limiter) setRate(rate int64) {
	l.mu.Lock()
	l.rate = rate
	l.mu.Unlock()
}

// wait blocks until n bytes may be sent, or ctx ends.
func (l *limiter) wait(ctx context.Context, n int) error {
	for {
		l.mu.Lock()
		if l.rate <= 0 {
			l.mu.Unlock()
			return nil
		}
		now := time.Now()
		burst := max(float64(l.rate)/4, rateChunk)
		if !l.last.IsZero() {
			l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*float64(l.rate))
		}
		l.last = now
		if l.tokens >= float64(n) {
			l.tokens -= float64(n)
			l.mu.Unlock()
			return nil
		}
		d := time.Duration((float64(n) - l.tokens) / float64(l.rate) * float64(time.Second))
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// limitedReader reads through a limiter and counts what it read; after
// stop it reads nothing more.
type limitedReader struct {
	ctx   context.Context
	r     io.Reader
	l     *limiter
	count func(int)

	mu      sync.Mutex // held while reading r, so stop waits for a read under way
	stopped bool
}

// errStopped is what a body reads after its request returned.
var errStopped = errors.New("upload: body read after its request ended")

// stop ends the reads: what r reads from may be reused.
func (lr *limitedReader) stop() {
	lr.mu.Lock()
	lr.stopped = true
	lr.mu.Unlock()
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if len(p) > rateChunk {
		p = p[:rateChunk]
	}
	if err := lr.l.wait(lr.ctx, len(p)); err != nil {
		return 0, err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.stopped {
		return 0, errStopped
	}
	n, err := lr.r.Read(p)
	if n > 0 && lr.count != nil {
		lr.count(n)
	}
	return n, err
}
