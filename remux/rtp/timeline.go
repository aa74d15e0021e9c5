// Package rtpdepack turns RTP packets (parsed with github.com/pion/rtp) into
// tapedeck media messages: H.264 and H.265 access units as AVC / Enhanced
// RTMP HEVC tag bodies, AAC (mpeg4-generic) frames and G.711 samples, with
// RTP timestamps mapped to a monotonic millisecond timeline.
//
// A lost RTP packet drops the frame it broke, never the stream.
package rtpdepack

// Timeline maps 32-bit RTP timestamps to milliseconds since a base, handling
// wrap-around in both directions (late packets just before a wrap).
type Timeline struct {
	clock   int64 // Hz
	base    int64 // extended timestamp of 0 ms
	last    int64 // extended timestamp of the last packet
	started bool
	hasBase bool
}

// NewTimeline returns a timeline for a clock rate in Hz. Without SetBase,
// the first timestamp seen is 0 ms.
func NewTimeline(clockRate int) *Timeline {
	if clockRate <= 0 {
		clockRate = 90000
	}
	return &Timeline{clock: int64(clockRate)}
}

// SetBase makes rtptime 0 ms (from the RTP-Info of a PLAY reply, so that
// the tracks of a session share one timeline). Call before the first Ext.
func (t *Timeline) SetBase(rtptime uint32) {
	t.base = int64(rtptime)
	t.last = int64(rtptime)
	t.started, t.hasBase = true, true
}

// Ext returns the extended (unwrapped) 64-bit value of ts.
func (t *Timeline) Ext(ts uint32) int64 {
	if !t.started {
		t.started = true
		t.last = int64(ts)
		if !t.hasBase {
			t.base = int64(ts)
		}
		return t.last
	}
	d := int64(int32(ts - uint32(t.last))) // signed distance, wraps handled
	e := t.last + d
	if d > 0 {
		t.last = e
	}
	return e
}

// Millis returns ts in milliseconds since the base; never negative.
func (t *Timeline) Millis(ts uint32) int64 { return t.ToMillis(t.Ext(ts)) }

// ToMillis converts an extended timestamp from Ext to milliseconds.
func (t *Timeline) ToMillis(ext int64) int64 {
	d := ext - t.base
	if d < 0 {
		return 0
	}
	return d * 1000 / t.clock
}

// seqTracker detects lost packets from 16-bit sequence numbers.
type seqTracker struct {
	next    uint16
	started bool
}

// check reports whether seq is the expected next packet (false after a gap)
// and whether the packet is stale (a duplicate or older than expected).
func (s *seqTracker) check(seq uint16) (inOrder, stale bool) {
	if !s.started {
		s.started = true
		s.next = seq + 1
		return true, false
	}
	d := int16(seq - s.next)
	if d < 0 {
		return false, true
	}
	s.next = seq + 1
	return d == 0, false
}
