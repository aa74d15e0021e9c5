package hub

import "slices"

// The players of one stream can share a writer (rtmp's fan-out writer):
// instead of each player's goroutine being woken per message, one
// goroutine per stream is, and it Polls every player's subscription. These
// methods are what it needs (rtmp.FanoutSubscription).

// FanoutKey identifies the stream: every subscriber of the same stream
// returns the same key.
func (sub *Subscriber) FanoutKey() any { return sub.s }

// Watch makes the stream call wake whenever its subscribers may have
// something new: a message, a publisher starting or going, the stream
// ending. wake runs on the goroutine that made the change, after the
// stream's lock is released, so it may Poll the stream's subscribers; it
// should not block. unwatch stops it.
func (sub *Subscriber) Watch(wake func()) (unwatch func()) {
	s := sub.s
	w := &watcher{wake: wake}
	s.mu.Lock()
	s.setWatchersLocked(append(s.currentWatchersLocked(), w))
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.setWatchersLocked(slices.DeleteFunc(s.currentWatchersLocked(), func(c *watcher) bool { return c == w }))
		s.mu.Unlock()
	}
}

// watcher is one Watch: a pointer, so unwatch finds its own.
type watcher struct{ wake func() }

// Err reports, without blocking, what Next would return once nothing is
// left to read: ErrClosed, ErrEnded, or nil while the subscription goes on.
func (sub *Subscriber) Err() error {
	s := sub.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case sub.closed:
		return ErrClosed
	case sub.endAt != 0 && sub.endAt == s.epoch && !s.publishing:
		return ErrEnded
	}
	return nil
}

// currentWatchersLocked returns a copy of the watcher list, to be
// modified and stored: wake reads the stored one without the lock.
func (s *Stream) currentWatchersLocked() []*watcher {
	if ws := s.watchers.Load(); ws != nil {
		return slices.Clone(*ws)
	}
	return nil
}

func (s *Stream) setWatchersLocked(ws []*watcher) {
	if len(ws) == 0 {
		s.watchers.Store(nil)
		return
	}
	s.watchers.Store(&ws)
}
