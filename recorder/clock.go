package recorder

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of recorders and retention. Two readings are
// needed because boxes without a real-time clock (every Raspberry Pi) boot
// with the time of their last shutdown, or 1970, and NTP sets the wall
// clock minutes later, by hours or years: only the steady clock says how
// much time really passed.
type Clock interface {
	// Now is the wall clock, the calendar time as the system has it now.
	// It may step.
	Now() time.Time
	// Elapsed is steady time since a fixed origin: it never steps.
	Elapsed() time.Duration
}

// clockStepTolerance is how far the wall clock may move against the steady
// clock between two readings before it counts as a step. NTP slews small
// offsets (at most 0.5 ms per second) and steps larger ones (≥ 128 ms with
// ntpd; timesyncd and chrony at boot step by whatever is off): 2 s keeps
// slewing, and readings a few seconds apart, well below it.
const clockStepTolerance = 2 * time.Second

// SystemClock is the system's wall clock, and its steady clock: on Linux
// CLOCK_BOOTTIME (which counts suspended time, as the wall clock does),
// elsewhere Go's monotonic clock.
type SystemClock struct {
	origin time.Time
	boot0  time.Duration
	boot   bool
	// asleep is what CLOCK_BOOTTIME counted beyond the monotonic clock
	// at its last reading. Reading it is a real syscall (Go's vDSO
	// covers only the monotonic and wall clocks), and every recorder
	// reads Elapsed per message: between readings, Elapsed is the
	// monotonic clock plus asleep.
	asleep atomic.Pointer[bootOffset]
	bootID string // see Boot
}

// bootOffset is a CLOCK_BOOTTIME reading against the other two clocks.
type bootOffset struct {
	// lead is the wall clock's lead over the monotonic clock since origin
	// at that reading. The machine cannot sleep without it changing (the
	// wall clock counts the time asleep, the monotonic clock does not),
	// so while it stays within bootSlack the offset is still right.
	lead   time.Duration
	asleep time.Duration
}

// bootSlack is how far the wall clock's lead over the monotonic clock may
// drift before CLOCK_BOOTTIME is read again: NTP's slew (≤ 0.5 ms/s) costs
// a reading every 100 s at most, a step or a resume one at once.
const bootSlack = 50 * time.Millisecond

// NewSystemClock returns the system clock, its steady time counted from now.
func NewSystemClock() *SystemClock {
	c := &SystemClock{origin: time.Now()}
	c.boot0, c.boot = bootClock()
	c.asleep.Store(&bootOffset{})
	c.bootID = readBootID()
	return c
}

// Now is time.Now without its monotonic reading, so that differences of
// wall times stay differences of wall times.
func (c *SystemClock) Now() time.Time { return time.Now().Round(0) }

// Elapsed is the steady time since NewSystemClock.
func (c *SystemClock) Elapsed() time.Duration {
	now := time.Now()
	mono := now.Sub(c.origin)
	if !c.boot {
		return mono
	}
	lead := now.Round(0).Sub(c.origin.Round(0)) - mono
	off := c.asleep.Load()
	if d := lead - off.lead; d > -bootSlack && d < bootSlack {
		return mono + off.asleep
	}
	b, ok := bootClock()
	if !ok {
		return mono + off.asleep
	}
	e := b - c.boot0
	c.asleep.Store(&bootOffset{lead: lead, asleep: max(e-mono, 0)})
	return max(e, mono)
}

// readClock reads both clocks, and the wall time of the steady origin as
// the wall clock says now: origin moves only when the wall clock steps (or
// slews).
func readClock(c Clock) (now time.Time, elapsed time.Duration, origin time.Time) {
	elapsed = c.Elapsed()
	now = c.Now()
	return now, elapsed, now.Add(-elapsed)
}

// ClockSteps is a Clock that remembers the steps of another clock's wall
// time during this run, so that wall times read earlier (the modification
// times of files written before a step) can be put on today's wall clock:
// retention by age uses it (Policy.Clock) and so is not fooled when NTP
// sets the clock of a box that booted with a wrong one. Every reading
// (Now, Elapsed, Correct) observes the clock; share one ClockSteps between
// the recorders and retention so that it observes often. Safe for
// concurrent use.
//
// The recorders also tell it the segments they close (see clockfix.go):
// when the wall clock steps, the segments of this run named before the
// step get their true start written beside them.
type ClockSteps struct {
	// Logger, when set, receives the failures to write a segment's true
	// start; set it before use.
	Logger *slog.Logger

	clock    Clock
	mu       sync.Mutex
	frames   []wallFrame // oldest first; the last one is the current one
	lastE    time.Duration
	segs     []*trackedSegment           // this run's closed segments, oldest first
	stepped  bool                        // a step not yet applied to segs
	renamer  Renamer                     // guards the renames of segs (SetRenamer)
	onRename func(old string, s Segment) // SetOnRename
	renamed  map[string]bool             // paths of segs renamed after a step
	moved    map[string]movedSegment     // by the path reported at close: where a step moved it

	fixMu sync.Mutex // one fixSegments at a time; guards trackedSegment.fixed
}

// wallFrame is a stretch of the run during which the wall clock did not
// step: the wall times [from, to] were read in it, and a wall time read in
// it is origin + elapsed.
type wallFrame struct {
	origin   time.Time
	from, to time.Time
}

// NewClockSteps starts observing c (nil: a new SystemClock).
func NewClockSteps(c Clock) *ClockSteps {
	if c == nil {
		c = NewSystemClock()
	}
	s := &ClockSteps{clock: c}
	e := c.Elapsed()
	w := c.Now()
	s.frames = []wallFrame{{origin: w.Add(-e), from: w, to: w}}
	s.lastE = e
	return s
}

// Now reads the wall clock (and notes a step).
func (s *ClockSteps) Now() time.Time {
	s.mu.Lock()
	w, _ := s.observe()
	s.unlock()
	return w
}

// Elapsed reads the steady clock (and notes a step of the wall clock).
func (s *ClockSteps) Elapsed() time.Duration {
	s.mu.Lock()
	_, e := s.observe()
	s.unlock()
	return e
}

// unlock releases mu, then corrects the segments named before a step the
// last observation found (file writes: not under mu, which every clock
// reading takes).
func (s *ClockSteps) unlock() {
	fix := s.stepped && len(s.segs) > 0
	s.stepped = false
	s.mu.Unlock()
	if fix {
		s.fixSegments()
	}
}

// Steps is the number of wall clock steps seen so far.
func (s *ClockSteps) Steps() int {
	s.mu.Lock()
	s.observe()
	n := len(s.frames) - 1
	s.unlock()
	return n
}

// observe reads both clocks and starts a new frame on a step.
func (s *ClockSteps) observe() (time.Time, time.Duration) {
	e := s.clock.Elapsed()
	w := s.clock.Now()
	origin := w.Add(-e)
	cur := &s.frames[len(s.frames)-1]
	if d := origin.Sub(cur.origin); d > -clockStepTolerance && d < clockStepTolerance {
		cur.origin = origin // follow the slew
		if w.After(cur.to) {
			cur.to = w
		}
		if w.Before(cur.from) {
			cur.from = w
		}
	} else {
		// The step happened between the last reading and this one: the
		// old clock may have stamped files up to what it would read now,
		// the new one from what it read at the last reading.
		cur.to = maxTime(cur.to, cur.origin.Add(e))
		s.frames = append(s.frames, wallFrame{origin: origin, from: minTime(w, origin.Add(s.lastE)), to: w})
		s.stepped = true
	}
	s.lastE = e
	return w, e
}

// Correct puts a wall time read earlier in this run on the current wall
// clock: t plus the steps the clock made since t was read. A time read in
// a frame that was later stepped is moved by the steps; a time no frame
// holds (before the run started, or ahead of the clock) is returned as is.
// Where frames overlap (after a backward step) the latest of the corrected
// times wins, i.e. the youngest reading: retention keeps rather than
// deletes when it cannot tell.
func (s *ClockSteps) Correct(t time.Time) time.Time {
	c, _ := s.correct(t)
	return c
}

// correct is Correct, and whether t was read during this run at all (a
// time of one of its frames).
func (s *ClockSteps) correct(t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.unlock()
	s.observe()
	cur := s.frames[len(s.frames)-1].origin
	var best time.Duration
	found := false
	for _, f := range s.frames {
		if t.Before(f.from) || t.After(f.to) {
			continue
		}
		if d := cur.Sub(f.origin); !found || d > best {
			best, found = d, true
		}
	}
	return t.Add(best), found
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
