package recorder

import "github.com/tapedeck/tapedeck/remux"

// A track stepping back in time (issue 15). When one track of a stream
// goes back by more than backJump while the other goes on, its frames are
// late or repeated media of time already recorded: written, they would
// cut a segment that starts in the past and overlaps the one before it on
// the recordings timeline. They are dropped until the track passes the
// last time it recorded; it then goes on in the same segment. When the
// other track steps back too, the whole stream went back (a new timeline):
// that cuts a segment as before, and the frames of the first track held
// meanwhile are written to the new one, so a reset loses nothing.

// lateMaxStep is the furthest one track may step back and be dropped
// rather than cut: beyond it, waiting for the track to come back to its
// recorded time would drop it for too long.
const lateMaxStep = fwdJump

// lateHoldMax bounds the frames of a late track kept in case the stream
// turns out to have been reset (about 10 s of AAC, 20 s of 25 fps video);
// holdMaxBytes bounds their bytes, whatever a publisher sends.
const lateHoldMax = 512

// stepsAlone reports whether track t, stepping back by d ms (< -backJump),
// does so alone: the stream has another track that has not stepped back,
// and the step is within lateMaxStep.
func (r *recorder) stepsAlone(t int, d int64) bool {
	o := 1 - t
	return d >= -lateMaxStep && r.haveT[o] && !r.late[o]
}

// holdLate keeps a frame of a late track; the first one logs the step.
func (r *recorder) holdLate(t int, m *remux.Message, p payload, ext, d int64) {
	if !r.late[t] {
		r.late[t] = true
		r.log.Warn("track stepped back, dropping its frames until it passes the time already recorded",
			"track", trackName(t), "jump_ms", d)
	}
	drop := 0
	for drop < len(r.lateHeld) && (len(r.lateHeld)-drop >= lateHoldMax || r.lateBytes+len(m.Payload) > holdMaxBytes) {
		r.lateBytes -= len(r.lateHeld[drop].m.Payload)
		r.lateHeld[drop].m.Release()
		r.stats.Dropped.Add(1)
		drop++
	}
	if drop > 0 {
		n := copy(r.lateHeld, r.lateHeld[drop:])
		clear(r.lateHeld[n:])
		r.lateHeld = r.lateHeld[:n]
	}
	r.lateHeld = append(r.lateHeld, heldFrame{t, m.Retain(), p, ext})
	r.lateBytes += len(m.Payload)
}

// endLate drops the held frames of track t: it is back past its recorded
// time, they were late.
func (r *recorder) endLate(t int) {
	r.late[t] = false
	kept := r.lateHeld[:0]
	for _, h := range r.lateHeld {
		if h.t == t {
			r.lateBytes -= len(h.m.Payload)
			h.m.Release()
			r.stats.Dropped.Add(1)
		} else {
			kept = append(kept, h)
		}
	}
	clear(r.lateHeld[len(kept):])
	r.lateHeld = kept
}

// takeLate ends every late track and hands over its held frames, in order,
// for a new timeline; the caller releases them.
func (r *recorder) takeLate() []heldFrame {
	held := r.lateHeld
	r.lateHeld, r.lateBytes = nil, 0
	r.late = [2]bool{}
	return held
}

// dropLate ends every late track, dropping its held frames.
func (r *recorder) dropLate() {
	for _, h := range r.takeLate() {
		h.m.Release()
		r.stats.Dropped.Add(1)
	}
}
