package remux

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// Kind is the type of a message. Media kinds carry the RTMP message type id,
// which is also the FLV tag type. Values >= 0xF0 are in-process markers that
// never reach the wire.
type Kind uint8

// Message kinds.
const (
	KindAudio Kind = 8
	KindVideo Kind = 9
	KindData  Kind = 18 // AMF0 data, e.g. onMetaData

	// KindStreamEnd tells a subscriber that the publisher went away.
	KindStreamEnd Kind = 0xF0
	// KindStreamStart tells a subscriber that a (new) publisher started; the
	// headers of the new session follow it.
	KindStreamStart Kind = 0xF1
)

// IsMedia reports whether k is audio or video.
func (k Kind) IsMedia() bool { return k == KindAudio || k == KindVideo }

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	case KindData:
		return "data"
	case KindStreamEnd:
		return "stream-end"
	case KindStreamStart:
		return "stream-start"
	}
	return fmt.Sprintf("type-%d", uint8(k))
}

// Message is one media message: kind, timestamp and the FLV tag body exactly
// as RTMP carries it, plus what consumers need parsed once at ingest.
//
// A Message is reference counted. Whoever holds a reference may read Payload
// until it calls Release; nobody writes to Payload after the message was
// handed on. Retain adds a reference for another holder (the GOP cache, a
// player, the recorder), so the bytes are filled once from the socket and
// then shared without copying.
type Message struct {
	Kind      Kind
	Timestamp uint32 // decode timestamp in milliseconds
	Payload   []byte // the FLV tag body; aliases a pooled buffer
	Frame     Frame  // parsed from Payload at ingest (zero for non-media)
	// Arrived is when the message reached the hub, by the monotonic
	// clock; zero when it did not come through one. A consumer that runs
	// behind (a recorder kept from running for seconds) dates what it
	// makes of the message by it, not by when it got round to it.
	Arrived time.Time

	refs atomic.Int32
	pool *Pool
	buf  []byte // the whole backing buffer, returned to pool
	// rewritten is what Rewritten made of the message, kept (one
	// reference) until the message's last reference goes.
	rewritten atomic.Pointer[Message]
}

// NewMessage returns an unpooled message holding payload (not copied), with
// one reference. Handy for control messages and tests.
func NewMessage(kind Kind, ts uint32, payload []byte) *Message {
	m := &Message{Kind: kind, Timestamp: ts, Payload: payload}
	m.refs.Store(1)
	m.Parse()
	return m
}

// Parse fills m.Frame from m.Payload according to m.Kind.
func (m *Message) Parse() {
	m.Frame = Frame{}
	switch m.Kind {
	case KindVideo:
		m.Frame.parseVideo(m.Payload)
	case KindAudio:
		m.Frame.parseAudio(m.Payload)
	}
}

// Retain adds a reference and returns m.
func (m *Message) Retain() *Message {
	if m.refs.Add(1) <= 1 {
		panic("remux: Retain of a released message")
	}
	return m
}

// Release drops a reference; the last one returns the buffer to its pool.
func (m *Message) Release() {
	n := m.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("remux: Message released more often than retained")
	}
	if r := m.rewritten.Swap(nil); r != nil {
		r.Release()
	}
	if m.pool != nil {
		m.pool.put(m)
	}
}

// Rewritten returns a new reference to rewrite's rewrite of m, made once
// for all of m's holders: players that need the same message in another
// form (a legacy player's track 0 of a multitrack message, the Enhanced
// form of legacy HEVC) share one copy per message, not one each. rewrite
// gets a reference to m of its own to take and returns the new message or
// nil (nothing kept then: a nil rewrite is cheap to find again). The
// caller's reference to m stays the caller's. Every holder of m must use
// the same rewrite.
func (m *Message) Rewritten(rewrite func(*Message) *Message) *Message {
	if r := m.rewritten.Load(); r != nil {
		return r.Retain()
	}
	r := rewrite(m.Retain())
	if r == nil {
		return nil
	}
	if !m.rewritten.CompareAndSwap(nil, r) {
		// Another holder rewrote it at the same moment: use theirs.
		r.Release()
		return m.rewritten.Load().Retain()
	}
	return r.Retain()
}

// Refs reports the current reference count (for tests and leak checks).
func (m *Message) Refs() int32 { return m.refs.Load() }

// IsKeyframe reports whether m is a video frame a decoder can start from.
func (m *Message) IsKeyframe() bool { return m.Kind == KindVideo && m.Frame.Keyframe }

// IsMetadata reports whether m is the stream's onMetaData: a data message
// whose first AMF0 value is the string "onMetaData" (a publisher's
// @setDataFrame in front of it is cut at ingest).
func (m *Message) IsMetadata() bool {
	if m.Kind != KindData {
		return false
	}
	_, ok := amf.CutString(m.Payload, "onMetaData")
	return ok
}

// IsSequenceHeader reports whether m carries codec configuration.
func (m *Message) IsSequenceHeader() bool { return m.Kind.IsMedia() && m.Frame.SequenceHeader }
