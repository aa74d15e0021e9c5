package recorder

import (
	"sync"
	"sync/atomic"
	"time"
)

// fakeClock is a Clock for tests: the steady clock is read from elapsed
// (nil: always 0), and the wall clock is base + elapsed + the steps made
// (Step, and those of schedule due by the steady clock).
type fakeClock struct {
	base     time.Time
	elapsed  func() time.Duration
	schedule []clockStep

	mu   sync.Mutex
	step time.Duration
}

func (c *fakeClock) Elapsed() time.Duration {
	if c.elapsed == nil {
		return 0
	}
	return c.elapsed()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.Elapsed()
	w := c.base.Add(c.step + e)
	for _, s := range c.schedule {
		if e >= s.at {
			w = w.Add(s.by)
		}
	}
	return w
}

// clockStep steps the wall clock by by once the steady clock reaches at.
type clockStep struct{ at, by time.Duration }

// Step moves the wall clock by d, as NTP setting it does.
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	c.step += d
	c.mu.Unlock()
}

// fixedClock returns a Clock that always says the same second.
func fixedClock() *fakeClock {
	return &fakeClock{base: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
}

// mediaClock is a Clock whose steady time is rate times the media time in
// ms held by ms (fakeSource.clock sets it as messages are handed out).
func mediaClock(base time.Time, ms *atomic.Int64, rate int64) *fakeClock {
	return &fakeClock{base: base, elapsed: func() time.Duration {
		return time.Duration(rate*ms.Load()) * time.Millisecond
	}}
}
