package recorder

import (
	"context"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// PollSource is a Source that Record reads without a goroutine of its own
// (hub.Subscriber is one; it is what rtmp's fan-out writer reads too).
// Through Next, Record needs a second goroutine blocked in Next to wait on
// the source, its sync ticker and its context at once: every message batch
// then wakes two goroutines, and the hand-over between them (a channel send
// each way) cost more CPU than the recorder's own work per message, besides
// a goroutine stack per recorded stream.
type PollSource interface {
	Source
	// Poll appends what is available now, without blocking.
	Poll(dst []*remux.Message) []*remux.Message
	// Watch makes the source call wake whenever it may have something
	// new; wake must not block. unwatch stops it.
	Watch(wake func()) (unwatch func())
	// Err is what Next would return once nothing is left: nil while the
	// source goes on.
	Err() error
}

// recordPolling is Record's loop for a PollSource: one goroutine waits on
// the source, the sync ticker and ctx. A source closed from elsewhere is
// noticed at the next tick at the latest (Watch does not report it; Record's
// own callers end it through ctx).
func (r *recorder) recordPolling(ctx context.Context, src PollSource) error {
	ready := make(chan struct{}, 1)
	unwatch := src.Watch(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	defer unwatch()
	tick := time.NewTicker(r.cfg.SyncEvery)
	defer tick.Stop()
	buf := make([]*remux.Message, 0, 128)
	for {
		if ctx.Err() != nil {
			return r.cancelled(ctx, src)
		}
		msgs := src.Poll(buf[:0])
		for i, m := range msgs {
			r.safeHandle(m)
			m.Release()
			msgs[i] = nil
		}
		buf = msgs[:0]
		if len(msgs) > 0 {
			r.maybeSync(false)
			continue
		}
		if err := src.Err(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		select {
		case <-ready:
		case <-tick.C:
			r.maybeSync(false)
		case <-ctx.Done():
			return r.cancelled(ctx, src)
		}
	}
}

// cancelled closes the last segment and the source when ctx ended Record.
func (r *recorder) cancelled(ctx context.Context, src Source) error {
	r.shutdown()
	closeSource(src)
	return ctx.Err()
}
