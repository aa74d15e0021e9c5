// Package rtpdepack turns the RTP packets of a camera into tapedeck media
// messages: H.264 and H.265 access units as AVC / Enhanced RTMP HEVC tag
// bodies, AAC (mpeg4-generic) frames and G.711 samples.
//
// The RTP payload formats are decoded by gortsplib's format packages
// (rtph264, rtph265, rtpmpeg4audio) and decode times of B-frame streams
// derived by mediacommon's DTS extractors; what this package adds is the
// conversion of their access units into FLV tag bodies on a millisecond
// timeline that only grows, without allocating per frame.
//
// A lost RTP packet drops the frame it broke, never the stream.
package rtpdepack

// Epoch is the start of the millisecond timeline the depacketizers of one
// session share. Its timestamps come in clock units from the RTSP client
// (gortsplib's PacketPTS, one timeline for all tracks); the first video
// frame of a B-frame stream may decode before its own presentation time 0,
// so the epoch is fixed by the first video frame: its DTS becomes >= 0 and
// every track is shifted by as much, keeping audio and video in sync.
// Audio before that frame is dropped (nothing can play it before the first
// keyframe anyway). An Epoch is not safe for concurrent use: the session
// serialises its tracks.
type Epoch struct {
	offset    int64 // ms added to every timestamp
	set       bool
	waitVideo bool
}

// NewEpoch returns the epoch of a session; hasVideo tells that audio must
// wait for the first video frame.
func NewEpoch(hasVideo bool) *Epoch { return &Epoch{waitVideo: hasVideo} }

// fix sets the epoch from the first video frame's DTS (ms).
func (e *Epoch) fix(dtsMS int64) {
	if !e.set {
		e.set = true
		e.offset = max(0, -dtsMS)
	}
}

// audioReady reports whether audio may flow, fixing the epoch for a
// session without video.
func (e *Epoch) audioReady() bool {
	if !e.set && !e.waitVideo {
		e.set = true
	}
	return e.set
}

// millis converts v in units of a clock of rate Hz to milliseconds,
// rounding down also below zero.
func millis(v int64, rate int64) int64 {
	ms := v * 1000
	if ms < 0 {
		return -((-ms + rate - 1) / rate)
	}
	return ms / rate
}

// resyncGap is how far behind the expected sequence number a packet may
// be before it is taken as a new sequence rather than a late duplicate.
const resyncGap = 1000

// seqTracker detects lost packets from 16-bit sequence numbers. The RTSP
// client delivers UDP packets in order already; a gap is a loss.
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
	if d < -resyncGap {
		// Far behind: the sender restarted its sequence, not reordering.
		s.next = seq + 1
		return false, false
	}
	if d < 0 {
		return false, true
	}
	s.next = seq + 1
	return d == 0, false
}
