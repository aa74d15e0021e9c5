package hub

import (
	"sync/atomic"

	"github.com/tapedeck/tapedeck/remux"
)

// Subscriber is a cursor into a stream's ring. It implements the
// rtmp.Subscription contract: Next blocks until there is something new and
// hands out retained references to the shared messages.
type Subscriber struct {
	// What Poll and the publisher's wake touch per message comes first,
	// in one cache line: a shared writer Polls a hundred subscribers
	// between writev calls that evict them, so each line is a miss.
	s *Stream

	// Guarded by s.mu.
	cursor      uint64
	epoch       uint64 // publish session this cursor follows; 0 = none yet
	ended       uint64 // epoch whose end was reported
	endAt       uint64 // set when the stream ended for good at this epoch
	waitKey     bool   // skip video until the next keyframe
	needHeaders bool   // metadata and sequence headers are due
	closed      bool

	parked atomic.Bool
	signal chan struct{} // capacity 1: set at most once per wake-up

	skips atomic.Uint64
	kind  atomic.Value // string: "player" unless SetKind says otherwise
	// trackKeys has a bit per Enhanced RTMP video track > 0 that reached
	// its first keyframe since the cursor was placed: the cursor starts at
	// a keyframe of track 0, and each other track's frames are skipped
	// until a keyframe of its own (enhanced-rtmp.md §5: GOPs per track).
	// Guarded by s.mu.
	trackKeys [4]uint64

	// 128 bytes in all: the allocator starts every 128-byte object on a
	// cache line, and a 112-byte one only every fourth.
	_ [16]byte
}

// SetKind labels the subscriber ("player", "recorder", "relay") for stats.
func (sub *Subscriber) SetKind(kind string) { sub.kind.Store(kind) }

// Kind returns the subscriber's label.
func (sub *Subscriber) Kind() string {
	if k, ok := sub.kind.Load().(string); ok {
		return k
	}
	return "player"
}

// Skips reports how often the subscriber fell behind and skipped to a keyframe.
func (sub *Subscriber) Skips() uint64 { return sub.skips.Load() }

// Stream returns the stream subscribed to.
func (sub *Subscriber) Stream() *Stream { return sub.s }

// Next appends the messages available to dst, retained for the caller.
func (sub *Subscriber) Next(dst []*remux.Message) ([]*remux.Message, error) {
	s := sub.s
	for {
		s.mu.Lock()
		if sub.closed {
			s.mu.Unlock()
			return dst, ErrClosed
		}
		n := len(dst)
		dst = sub.collectLocked(dst)
		if len(dst) > n {
			s.mu.Unlock()
			return dst, nil
		}
		if sub.endAt != 0 && sub.endAt == s.epoch && !s.publishing {
			s.mu.Unlock()
			return dst, ErrEnded
		}
		sub.park()
		s.mu.Unlock()
		<-sub.signal
	}
}

// park sets the parked flag, for the next wake to signal; s.mu is held,
// so a wake that follows a message appended after it sees the count.
func (sub *Subscriber) park() {
	if !sub.parked.Swap(true) {
		sub.s.parkedSubs.Add(1)
	}
}

// unpark clears the parked flag of a subscriber going away, so that the
// count of parked ones does not keep wake looking.
func (sub *Subscriber) unpark() {
	if sub.parked.Swap(false) {
		sub.s.parkedSubs.Add(-1)
	}
}

// Poll appends what is available now without blocking (rtmp.Poller): a
// player holding a message for its merge window adds what arrived since.
func (sub *Subscriber) Poll(dst []*remux.Message) []*remux.Message {
	s := sub.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.closed {
		return dst
	}
	return sub.collectLocked(dst)
}

// collectLocked appends what is new since the cursor.
func (sub *Subscriber) collectLocked(dst []*remux.Message) []*remux.Message {
	s := sub.s
	if s.epoch == 0 {
		return dst // never published yet
	}
	if sub.epoch != s.epoch && (s.publishing || sub.epoch == 0) {
		// Joining, or the publisher came back: headers, then the GOP.
		if sub.epoch != 0 {
			dst = append(dst, remux.NewMessage(remux.KindStreamStart, 0, nil))
		}
		sub.joinLocked()
	}
	if sub.needHeaders {
		sub.needHeaders = false
		dst = sub.appendHeadersLocked(dst)
	}
	if sub.epoch == s.epoch {
		if sub.cursor < s.tail || sub.lagging() {
			sub.skips.Add(1)
			sub.skipLocked()
		}
		var out uint64
		for ; sub.cursor < s.head; sub.cursor++ {
			m := s.at(sub.cursor).m
			// Waiting for a keyframe skips frames, not the sequence
			// headers a new publish session sends ahead of its first one.
			if sub.waitKey && m.Kind == remux.KindVideo && !m.Frame.SequenceHeader {
				if !m.IsKeyframe() || m.Frame.Track != 0 {
					continue
				}
				sub.waitKey = false
			}
			if m.Kind == remux.KindVideo && m.Frame.Track != 0 && !sub.trackStarted(m) {
				continue
			}
			out += uint64(len(m.Payload))
			dst = append(dst, m.Retain())
		}
		if out > 0 {
			s.bytesOut.Add(out)
		}
	}
	if !s.publishing && sub.ended != s.epoch && sub.epoch == s.epoch && sub.cursor == s.head {
		sub.ended = s.epoch
		dst = append(dst, remux.NewMessage(remux.KindStreamEnd, 0, nil))
	}
	return dst
}

// trackStarted reports whether video message m of a track > 0 may go
// out: anything but a coded frame, and coded frames from the track's first
// keyframe on.
func (sub *Subscriber) trackStarted(m *remux.Message) bool {
	w, bit := &sub.trackKeys[m.Frame.Track>>6], uint64(1)<<(m.Frame.Track&63)
	switch {
	case *w&bit != 0:
		return true
	case m.Frame.Packet != remux.PacketCodedFrames && m.Frame.Packet != remux.PacketCodedFramesX:
		return true
	case m.IsKeyframe():
		*w |= bit
		return true
	}
	return false
}

// joinLocked positions a new cursor in the current publish session.
func (sub *Subscriber) joinLocked() {
	sub.epoch = sub.s.epoch
	sub.needHeaders = true
	sub.jumpLocked()
}

// lagging reports whether the cursor is further behind the head than the
// stream's bounds allow.
func (sub *Subscriber) lagging() bool {
	s := sub.s
	if sub.cursor >= s.head {
		return false
	}
	first := s.at(sub.cursor)
	behindBytes := s.cum - first.cum + uint64(len(first.m.Payload))
	behindTime := s.behindLocked(first.m)
	return behindBytes > uint64(s.cfg.MaxLagBytes) || behindTime > s.cfg.MaxLagTime.Milliseconds()
}

// skipLocked moves a lagging cursor forward: to the newest keyframe when
// it has yet to read it, else to the head to wait for the next one. Never
// back: a subscriber that already read the newest keyframe (its cursor in
// the GOP after it) would be handed that GOP a second time, its audio
// included, seconds back in time (issue 15).
func (sub *Subscriber) skipLocked() {
	s := sub.s
	if sub.cursor >= s.tail && s.hasKey && s.lastKey < sub.cursor {
		sub.trackKeys = [4]uint64{}
		sub.cursor = s.head
		sub.waitKey = true
		return
	}
	sub.jumpLocked()
}

// jumpLocked moves the cursor to the newest keyframe, or to the head to wait
// for the next one.
func (sub *Subscriber) jumpLocked() {
	s := sub.s
	sub.trackKeys = [4]uint64{}
	if s.cfg.GOPCache && s.hasKey && s.lastKey >= s.tail {
		sub.cursor = s.lastKey
		sub.waitKey = false
		return
	}
	// Without a cached keyframe (no GOP cache, or a session that has sent
	// none yet, as at a republish) video starts at the next one: never
	// mid-GOP, whatever the publisher sends first.
	sub.cursor = s.head
	sub.waitKey = true
}

func (sub *Subscriber) appendHeadersLocked(dst []*remux.Message) []*remux.Message {
	s := sub.s
	for _, m := range [...]*remux.Message{s.meta, s.videoHdr, s.audioHdr} {
		if m != nil {
			dst = append(dst, m.Retain())
		}
	}
	for _, m := range s.trackHdrs {
		dst = append(dst, m.Retain())
	}
	return dst
}

// Close detaches the subscriber and wakes a blocked Next.
func (sub *Subscriber) Close() {
	s := sub.s
	s.mu.Lock()
	if sub.closed {
		s.mu.Unlock()
		return
	}
	sub.closed = true
	s.mu.Unlock()
	select {
	case sub.signal <- struct{}{}:
	default:
	}
	s.removeSubscriber(sub)
}
