package hub

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// slot is one ring entry: a shared message and the stream's byte count up
// to and including it, so lag in bytes is one subtraction.
type slot struct {
	m   *remux.Message
	cum uint64
}

const (
	minRing = 256
	maxRing = 1 << 16
)

// Stream is one live stream: publisher state, headers, and the ring of
// messages that is at once the GOP cache and every subscriber's queue.
type Stream struct {
	hub       *Hub
	app, name string
	key       string

	mu         sync.Mutex
	cfg        StreamConfig
	ring       []slot // len is a power of two; seq s lives at s & (len-1)
	head, tail uint64 // next seq to write; oldest retained seq
	lastKey    uint64 // seq of the newest video keyframe, valid when hasKey
	hasKey     bool
	cum        uint64 // bytes appended this session
	meta       *remux.Message
	videoHdr   *remux.Message
	audioHdr   *remux.Message
	// trackHdrs are the sequence headers of the Enhanced RTMP multitrack
	// tracks other than 0, one per (kind, track id), in arrival order: a
	// late joiner needs every track's configuration, not only the default
	// track's (enhanced-rtmp.md §5). At most 2×256 entries.
	trackHdrs  []*remux.Message
	epoch      uint64 // publish session, starting at 1
	publishing bool
	source     string
	since      time.Time
	grace      *time.Timer
	kick       func(reconnect bool) bool // disconnects the publisher; true: asked to reconnect first
	subs       map[*Subscriber]struct{}
	subList    atomic.Pointer[[]*Subscriber] // read by the publisher without the lock
	// parkedSubs counts the subscribers whose parked flag is set, so that
	// wake looks at each subscriber only when one may wait: players that
	// a shared writer drives never park, and touching each of their
	// flags per message costs a cache miss apiece.
	parkedSubs atomic.Int32
	watchers   atomic.Pointer[[]*watcher] // Subscriber.Watch; read by wake without the lock

	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64 // media bytes handed to subscribers
	msgsIn   atomic.Uint64
	lastTS   uint32    // of the newest message
	kindTS   [2]uint32 // of the newest video and audio message (tsKind)
	kindSeen [2]bool
}

func newStream(h *Hub, app, name string, cfg StreamConfig) *Stream {
	s := &Stream{
		hub: h, app: app, name: name, key: streamKey(app, name), cfg: cfg,
		ring: make([]slot, minRing),
		subs: make(map[*Subscriber]struct{}),
	}
	s.subList.Store(&[]*Subscriber{})
	return s
}

// App returns the application name.
func (s *Stream) App() string { return s.app }

// Name returns the stream name.
func (s *Stream) Name() string { return s.name }

// Stats is a snapshot of a stream for the API and metrics.
type Stats struct {
	App, Name   string
	Publishing  bool
	Source      string
	Since       time.Time
	Subscribers int // every consumer: players, recorder, relays
	Players     int // subscribers of kind "player"
	BytesIn     uint64
	BytesOut    uint64 // media bytes handed to all subscribers
	MessagesIn  uint64
	VideoCodec  remux.FourCC
	AudioCodec  remux.FourCC
	Skips       uint64 // keyframe skips of slow subscribers, summed
	// HeldBytes is the media payload the ring holds: the GOP cache and
	// what a consumer has yet to read (at most MaxLagBytes of it).
	HeldBytes uint64
}

// Stats returns a snapshot.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		App: s.app, Name: s.name, Publishing: s.publishing, Source: s.source, Since: s.since,
		Subscribers: len(s.subs), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), MessagesIn: s.msgsIn.Load(),
		HeldBytes: s.heldBytesLocked(),
	}
	if s.videoHdr != nil {
		st.VideoCodec = s.videoHdr.Frame.Codec
	}
	if s.audioHdr != nil {
		st.AudioCodec = s.audioHdr.Frame.Codec
	}
	for sub := range s.subs {
		st.Skips += sub.skips.Load()
		if sub.Kind() == "player" {
			st.Players++
		}
	}
	return st
}

func (s *Stream) startPublish(cfg StreamConfig, source string) (*Publication, error) {
	s.mu.Lock()
	if s.publishing {
		s.mu.Unlock()
		return nil, ErrStreamBusy
	}
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.cfg = cfg
	s.resetLocked()
	s.epoch++
	s.publishing = true
	s.source = source
	s.since = time.Now()
	s.mu.Unlock()
	s.wake()
	return &Publication{s: s}, nil
}

// resetLocked drops the previous session's messages: a new publisher
// starts a new timeline.
func (s *Stream) resetLocked() {
	s.kindSeen = [2]bool{}
	for seq := s.tail; seq != s.head; seq++ {
		sl := &s.ring[seq&uint64(len(s.ring)-1)]
		sl.m.Release()
		sl.m = nil
	}
	s.tail, s.head, s.hasKey, s.cum = 0, 0, false, 0
	for _, p := range []**remux.Message{&s.meta, &s.videoHdr, &s.audioHdr} {
		if *p != nil {
			(*p).Release()
			*p = nil
		}
	}
	for i, m := range s.trackHdrs {
		m.Release()
		s.trackHdrs[i] = nil
	}
	s.trackHdrs = s.trackHdrs[:0]
}

func (s *Stream) releaseAllLocked() {
	s.resetLocked()
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
}

// append adds a published message to the ring; it owns m's reference.
func (s *Stream) append(m *remux.Message) {
	m.Arrived = time.Now()
	s.bytesIn.Add(uint64(len(m.Payload)))
	s.msgsIn.Add(1)
	s.mu.Lock()
	// Headers and keyframes are tracked for the default track (0): it is
	// what every player decodes; other Enhanced RTMP tracks ride along.
	track0 := m.Frame.Track == 0
	switch {
	case m.IsMetadata():
		liveMetadata(m)
		s.meta = replace(s.meta, m)
	case m.Kind == remux.KindVideo && m.Frame.SequenceHeader && track0:
		s.videoHdr = replace(s.videoHdr, m)
	case m.Kind == remux.KindAudio && m.Frame.SequenceHeader && track0:
		s.audioHdr = replace(s.audioHdr, m)
	case m.Kind.IsMedia() && m.Frame.SequenceHeader:
		s.setTrackHdrLocked(m)
	}
	if s.head-s.tail == uint64(len(s.ring)) {
		s.growLocked()
	}
	s.cum += uint64(len(m.Payload))
	s.ring[s.head&uint64(len(s.ring)-1)] = slot{m: m, cum: s.cum}
	if m.IsKeyframe() && track0 {
		s.lastKey = s.head
		s.hasKey = true
	}
	s.head++
	s.lastTS = m.Timestamp
	if k := tsKind(m.Kind); k >= 0 {
		s.kindTS[k], s.kindSeen[k] = m.Timestamp, true
	}
	s.trimLocked()
	s.mu.Unlock()
	s.wake()
}

// setTrackHdrLocked keeps m as the sequence header of its (kind, track),
// in place of the one before it.
func (s *Stream) setTrackHdrLocked(m *remux.Message) {
	for i, h := range s.trackHdrs {
		if h.Kind == m.Kind && h.Frame.Track == m.Frame.Track {
			s.trackHdrs[i] = replace(h, m)
			return
		}
	}
	s.trackHdrs = append(s.trackHdrs, m.Retain())
}

// replace stores m (retained) in place of old.
func replace(old, m *remux.Message) *remux.Message {
	if old != nil {
		old.Release()
	}
	return m.Retain()
}

func (s *Stream) growLocked() {
	if len(s.ring) >= maxRing {
		s.dropTailLocked()
		return
	}
	ring := make([]slot, 2*len(s.ring))
	for seq := s.tail; seq != s.head; seq++ {
		ring[seq&uint64(len(ring)-1)] = s.ring[seq&uint64(len(s.ring)-1)]
	}
	s.ring = ring
}

func (s *Stream) dropTailLocked() {
	sl := &s.ring[s.tail&uint64(len(s.ring)-1)]
	sl.m.Release()
	sl.m = nil
	s.tail++
}

// trimLocked drops messages no one may need: older than the GOP cache's
// keyframe and than every subscriber's cursor, or outside the lag window
// subscribers are allowed. Only what a subscriber has yet to read is kept
// for the lag window, so a stream whose consumers keep up (a recorder, live
// players) holds its GOP and little more.
func (s *Stream) trimLocked() {
	keep := s.head // first seq the GOP cache needs
	if s.cfg.GOPCache && s.hasKey {
		keep = s.lastKey
		// A GOP larger than the cache bound is not worth keeping whole.
		if s.cum-s.at(keep).cum > uint64(s.cfg.MaxGOPBytes) {
			keep = s.head
		}
	}
	if s.tail >= keep || s.tail >= s.head-1 {
		return
	}
	unread := s.head // first seq a subscriber of this session has yet to read
	for _, sub := range *s.subList.Load() {
		if sub.epoch == s.epoch && sub.cursor < unread {
			unread = sub.cursor
		}
	}
	for s.tail < keep && s.tail < s.head-1 {
		if s.tail >= unread {
			old := s.at(s.tail)
			withinBytes := s.cum-old.cum <= uint64(s.cfg.MaxLagBytes)
			withinTime := s.behindLocked(old.m) <= s.cfg.MaxLagTime.Milliseconds()
			if withinBytes && withinTime {
				break
			}
		}
		s.dropTailLocked()
	}
}

// tsKind is the index of a kind in Stream.kindTS: 0 video, 1 audio, -1
// for the rest (data, control), which have no timeline of their own.
func tsKind(k remux.Kind) int {
	switch k {
	case remux.KindVideo:
		return 0
	case remux.KindAudio:
		return 1
	}
	return -1
}

// behindLocked is how far m, a message in the ring, is behind the newest
// message of its own kind, in ms. The tracks of one source reach us
// skewed: a camera whose video encoder falls behind delivers its video
// seconds after the audio of the same moment. Measured against the newest
// message of any track, a subscriber reading such a stream as fast as it
// comes would look that far behind and be jumped, again and again (issue
// 15: the recorder cut a segment at each jump).
func (s *Stream) behindLocked(m *remux.Message) int64 {
	ref := s.lastTS
	if k := tsKind(m.Kind); k >= 0 && s.kindSeen[k] {
		ref = s.kindTS[k]
	}
	return int64(int32(ref - m.Timestamp))
}

func (s *Stream) at(seq uint64) *slot { return &s.ring[seq&uint64(len(s.ring)-1)] }

// heldBytesLocked is the payload of the messages in the ring.
func (s *Stream) heldBytesLocked() uint64 {
	if s.tail == s.head {
		return 0
	}
	first := s.at(s.tail)
	return s.cum - first.cum + uint64(len(first.m.Payload))
}

// wake signals every parked subscriber, then calls the watchers (a
// shared writer, which may write to its players there and then). A
// subscriber that is busy writing is not signalled: it looks at the head
// again before parking, so each wake-up drains everything new in one go.
func (s *Stream) wake() {
	if s.parkedSubs.Load() != 0 {
		for _, sub := range *s.subList.Load() {
			if sub.parked.CompareAndSwap(true, false) {
				s.parkedSubs.Add(-1)
				select {
				case sub.signal <- struct{}{}:
				default:
				}
			}
		}
	}
	if ws := s.watchers.Load(); ws != nil {
		for _, w := range *ws {
			w.wake()
		}
	}
}

func (s *Stream) publishEnded(p *Publication) {
	s.mu.Lock()
	if !s.publishing || p.s != s {
		s.mu.Unlock()
		return
	}
	s.publishing = false
	s.kick = nil
	epoch := s.epoch
	if len(s.subs) > 0 && s.cfg.RepublishGrace > 0 {
		s.grace = time.AfterFunc(s.cfg.RepublishGrace, func() { s.graceExpired(epoch) })
	} else {
		s.endSubscribersLocked()
	}
	s.mu.Unlock()
	s.wake()
	s.hub.removeIfIdle(s)
}

func (s *Stream) graceExpired(epoch uint64) {
	s.mu.Lock()
	if s.publishing || s.epoch != epoch {
		s.mu.Unlock()
		return
	}
	s.grace = nil
	s.endSubscribersLocked()
	s.mu.Unlock()
	s.wake()
}

// endSubscribersLocked makes subscribers finish once they drained the ring.
func (s *Stream) endSubscribersLocked() {
	for sub := range s.subs {
		sub.endAt = s.epoch
	}
}

func (s *Stream) addSubscriber() *Subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &Subscriber{s: s, signal: make(chan struct{}, 1)}
	if s.publishing {
		sub.joinLocked()
	}
	s.subs[sub] = struct{}{}
	s.publishSubListLocked()
	return sub
}

func (s *Stream) removeSubscriber(sub *Subscriber) {
	s.mu.Lock()
	sub.unpark()
	delete(s.subs, sub)
	s.publishSubListLocked()
	s.mu.Unlock()
	s.hub.removeIfIdle(s)
}

func (s *Stream) publishSubListLocked() {
	list := make([]*Subscriber, 0, len(s.subs))
	for sub := range s.subs {
		list = append(list, sub)
	}
	s.subList.Store(&list)
}

// Kick disconnects the stream's publisher; kicked reports whether there
// was one. With reconnect, a publisher that can follow a reconnect
// request (Enhanced RTMP v2) is asked to come back first; requested
// reports whether it was asked (it announced the capability and the
// request was written).
func (s *Stream) Kick(reconnect bool) (kicked, requested bool) {
	s.mu.Lock()
	kick := s.kick
	publishing := s.publishing
	s.mu.Unlock()
	if !publishing || kick == nil {
		return false, false
	}
	return true, kick(reconnect)
}

// Metadata returns the publisher's onMetaData body (AMF0, starting with the
// string "onMetaData"), or nil. The bytes must not be modified.
func (s *Stream) Metadata() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta == nil {
		return nil
	}
	return bytes.Clone(s.meta.Payload)
}

// Publication is the publisher's handle on a stream.
type Publication struct {
	s      *Stream
	closed atomic.Bool
}

// SetKicker registers how to disconnect this publisher (for Stream.Kick),
// asking it to reconnect or not; kick reports whether it asked.
func (p *Publication) SetKicker(kick func(reconnect bool) bool) {
	p.s.mu.Lock()
	p.s.kick = kick
	p.s.mu.Unlock()
}

// Stream returns the stream being published.
func (p *Publication) Stream() *Stream { return p.s }

// Write appends m to the stream; it takes over the caller's reference.
func (p *Publication) Write(m *remux.Message) {
	if p.closed.Load() {
		m.Release()
		return
	}
	p.s.append(m)
}

// Close ends the publish.
func (p *Publication) Close() {
	if p.closed.CompareAndSwap(false, true) {
		p.s.publishEnded(p)
	}
}
