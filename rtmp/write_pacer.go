package rtmp

import (
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// NoWriteBatch as ServerConfig.WriteBatch sends every message the moment it
// arrives: no merge window at all.
const NoWriteBatch time.Duration = -1

const (
	// autoMaxBatch caps the adaptive window: with the time a round of
	// writes to every player takes, a message is out within ~60 ms even
	// with a thousand players.
	autoMaxBatch = 40 * time.Millisecond
	// autoDuty is how much of one core the players' writes may take
	// before the window opens: window = players × cost of a write / duty.
	autoDuty = 0.25
	// minPause: a shorter wait costs a timer and a wake-up for little
	// merging, so the player writes again at once.
	minPause = time.Millisecond
	// Bounds of the measured cost of one write: a write that blocked on a
	// full socket is the client's slowness, not our CPU.
	minWriteCost = 2 * time.Microsecond
	maxWriteCost = 200 * time.Microsecond
)

// writePacer decides how long a player waits after a write, so that what
// the stream produces meanwhile leaves in the next vectored write. The cost
// that merging saves is a syscall (and a wake-up) per player per message,
// which only matters when there are many players: with few players the
// window is zero and a message leaves as soon as it arrives; with many it
// grows with players × the measured cost of one write, up to
// autoMaxBatch, bounding the CPU the writes take. A positive fixed window
// (ServerConfig.WriteBatch) replaces the adaptive one.
//
// It is shared by every player of a Server: the CPU the writes compete for
// is the machine's, whatever stream they belong to.
type writePacer struct {
	fixed   time.Duration // > 0: fixed window; NoWriteBatch: none; 0: adaptive
	players atomic.Int64  // players writing now
	costNs  atomic.Int64  // moving average of one write's duration
}

// observe folds the duration of one vectored write into the estimate. It
// is wall time, so a write preempted by other processes looks slow: the
// estimate falls fast (1/8 of the difference) and rises slowly (1/256),
// following the writes that ran undisturbed. The load-then-store is not
// atomic as a whole; a lost sample does not matter.
func (w *writePacer) observe(d time.Duration) {
	d = min(max(d, minWriteCost), maxWriteCost)
	old := w.costNs.Load()
	switch {
	case old == 0:
		w.costNs.Store(int64(d))
	case int64(d) < old:
		w.costNs.Store(old - (old-int64(d))/8)
	default:
		w.costNs.Store(old + (int64(d)-old)/256)
	}
}

// window is the merge window now.
func (w *writePacer) window() time.Duration {
	switch {
	case w.fixed > 0:
		return w.fixed
	case w.fixed < 0:
		return 0
	}
	cost := max(w.costNs.Load(), int64(minWriteCost))
	win := time.Duration(float64(w.players.Load()*cost) / autoDuty)
	return min(win, autoMaxBatch)
}

// hold is how long a player that has something to send waits before
// writing it, when its previous write started at last: until one window
// after that, so what arrives meanwhile leaves in the same write. A player
// whose messages come further apart than the window never waits, and one
// with nothing to send sleeps in Next, not on a timer. Only the adaptive
// window holds; a fixed one is waited after the write (pause).
func (w *writePacer) hold(last, now time.Time) time.Duration {
	if w.fixed != 0 || last.IsZero() {
		return 0
	}
	p := w.window() - now.Sub(last)
	if p < minPause {
		return 0
	}
	return p
}

// pause is how long a player waits after a write that started at start:
// the next write starts no sooner than one window after this one started.
// A fixed window is waited in full after the write, as it always was. The
// adaptive window is waited here only by a subscription that cannot Poll
// (a recording's session).
func (w *writePacer) pause(start, now time.Time) time.Duration {
	win := w.window()
	if w.fixed > 0 {
		return win
	}
	p := win - now.Sub(start)
	if p < minPause {
		return 0
	}
	return p
}

// Poller is a Subscription that can also hand over what is available now
// without blocking, so a player holding a message for the merge window can
// add what arrived meanwhile. A live stream's subscription is one
// (hub.Subscriber); without it a player waits its window after each write.
type Poller interface {
	// Poll appends the messages available now, each retained for the
	// caller, and returns at once; nothing when there is nothing new or
	// the subscription is closed (Next reports that).
	Poll(dst []*remux.Message) []*remux.Message
}
