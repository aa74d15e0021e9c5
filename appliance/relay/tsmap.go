package relay

import (
	"github.com/tapedeck/tapedeck/remux"
)

// rebaseGap is how far after the last timestamp sent the first media
// message of a new upstream connection or publisher session is placed.
const rebaseGap = 40

// tsMap rewrites timestamps for one upstream so they never go back, across
// reconnects of the upstream and restarts of the publisher: at each rebase
// point the next media message is placed just after the newest timestamp
// sent so far, and the messages after it keep their spacing (one offset for
// audio and video, so they stay in sync). Each kind is also kept monotonic
// on its own, as servers and muxers check per track.
type tsMap struct {
	offset   int64
	anchored bool     // offset is valid for the current session
	last     [3]int64 // audio, video, data: the newest timestamp sent
	maxLast  int64
	media    bool // a media message was sent once
	started  bool // anything was sent once
}

func kindIndex(k remux.Kind) int {
	switch k {
	case remux.KindAudio:
		return 0
	case remux.KindVideo:
		return 1
	}
	return 2
}

// rebase makes the next media message continue after what was sent.
func (t *tsMap) rebase() { t.anchored = false }

// out returns the upstream timestamp of m and records it as sent.
func (t *tsMap) out(m *remux.Message) uint32 {
	k := kindIndex(m.Kind)
	in := int64(m.Timestamp)
	var v int64
	switch {
	case m.Kind.IsMedia() && !m.Frame.SequenceHeader:
		if !t.anchored {
			gap := int64(rebaseGap)
			if !t.media {
				gap = 0 // the very first media message goes out at 0
			}
			t.offset = t.maxLast + gap - in
			t.anchored = true
			t.media = true
		}
		v = in + t.offset
	case t.anchored:
		v = in + t.offset
	default:
		// Metadata and sequence headers ahead of the first frame of a
		// session go out at the newest time sent.
		v = t.maxLast
	}
	if t.started && v < t.last[k] {
		v = t.last[k]
	}
	v = max(v, 0)
	t.started = true
	t.last[k] = v
	t.maxLast = max(t.maxLast, v)
	return uint32(v)
}
