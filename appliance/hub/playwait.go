package hub

import "time"

// Publishing reports whether the subscriber's stream has a publisher now.
func (sub *Subscriber) Publishing() bool {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	return sub.s.publishing
}

// WaitPublisher blocks until the subscriber's stream has a publisher,
// d passes, stop is closed or the subscriber is closed, and reports
// whether there is a publisher. It parks like Next, on the same signal:
// a wake-up it takes is never lost to Next, which looks at the stream
// before it parks.
func (sub *Subscriber) WaitPublisher(d time.Duration, stop <-chan struct{}) bool {
	s := sub.s
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.publishing || sub.closed {
			ok := s.publishing && !sub.closed
			s.mu.Unlock()
			return ok
		}
		sub.park()
		s.mu.Unlock()
		select {
		case <-sub.signal:
		case <-timer.C:
			return sub.Publishing()
		case <-stop:
			return false
		}
	}
}
