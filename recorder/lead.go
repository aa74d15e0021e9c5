package recorder

import (
	"math"

	"github.com/tapedeck/tapedeck/remux"
)

// A track leading the video (issue 15). A segment with video is cut at a
// keyframe, but when a camera's video arrives seconds after its audio
// (a starved encoder), the audio of the seconds after that keyframe was
// received, and would have been written, before it: the segment's
// duration would pass the next segment's start by the audio's lead, and
// the recordings timeline would show the two overlapping. So once a cut
// is due (the keyframe that comes next will cut), the frames of every
// other track (audio, multitrack extras) at or after the video's last
// time are held until the video catches up: those before a video frame's
// time are written before it, and at the cutting keyframe the rest go to
// the new segment, after the keyframe. Both tracks are cut at the
// keyframe's time.
//
// Outside that window (the next keyframe cannot cut) nothing is held, so
// a stream whose tracks are interleaved, or audio-only or video-only,
// costs one comparison a frame. The hold is bounded like the late hold
// (late.go): past aheadHoldMax frames or holdMaxBytes, the oldest are
// written at once into the open segment, and that segment overlaps the
// next by what was written so (logged once a session). A crash while
// holding loses at most the held frames.

// aheadHoldMax bounds the frames held ahead of the video: about 10 s of
// AAC at 48 kHz, more than the hub lets a lead grow to.
const aheadHoldMax = 512

// cutDue reports whether a video keyframe at unwrapped time ext would cut
// the open segment.
func (r *recorder) cutDue(ext int64) bool {
	return r.segStepped || ext-r.base >= r.cfg.SegmentDuration.Milliseconds() ||
		(r.cfg.SegmentMaxBytes > 0 && r.seg.size() >= r.cfg.SegmentMaxBytes)
}

// leads reports whether a frame of track t (not the default video) at ext
// must wait for the video: it is at or past the video's last time, and
// the keyframe that comes next would cut the segment.
func (r *recorder) leads(t int, ext int64) bool {
	return r.seg != nil && r.haveT[trackVideo] && ext >= r.lastT[trackVideo] && r.cutDue(ext) &&
		r.seg.hasTrack(trackVideo) && r.seg.hasTrack(t)
}

// holdAhead keeps a frame that leads the video. At the bound, the oldest
// held are written into the open segment as they are.
func (r *recorder) holdAhead(t int, m *remux.Message, p payload, ext int64) {
	if len(r.ahead) > 0 && (len(r.ahead) >= aheadHoldMax || r.aheadBytes+len(m.Payload) > holdMaxBytes) {
		if !r.aheadWarned {
			r.aheadWarned = true
			r.log.Warn("a track leads the video by more than the recorder holds; this segment ends past the next one's start",
				"track", trackName(t), "lead_ms", ext-r.lastT[trackVideo], "held", len(r.ahead))
		}
		for len(r.ahead) > 0 && (len(r.ahead) >= aheadHoldMax || r.aheadBytes+len(m.Payload) > holdMaxBytes) {
			h := r.ahead[0]
			n := copy(r.ahead, r.ahead[1:])
			r.ahead[n] = heldFrame{}
			r.ahead = r.ahead[:n]
			r.aheadBytes -= len(h.m.Payload)
			r.writeHeld(h)
		}
	}
	r.ahead = append(r.ahead, heldFrame{t, m.Retain(), p, ext})
	r.aheadBytes += len(m.Payload)
}

// releaseAhead writes the held frames before time before (math.MaxInt64:
// all of them) into the open segment, keeping the others in order. With
// no segment open (a write error), they are dropped.
func (r *recorder) releaseAhead(before int64) {
	kept := 0
	for i := range r.ahead {
		h := r.ahead[i]
		if h.ext >= before {
			r.ahead[kept] = h
			kept++
			continue
		}
		r.ahead[i] = heldFrame{}
		r.aheadBytes -= len(h.m.Payload)
		r.writeHeld(h)
	}
	clear(r.ahead[kept:])
	r.ahead = r.ahead[:kept]
}

// writeHeld writes a held frame where it was headed and releases it.
func (r *recorder) writeHeld(h heldFrame) {
	if h.t >= trackExtra {
		r.writeExtra(h.t, h.m, h.p, h.ext)
	} else {
		r.write(h.t, h.m, h.p, h.ext)
	}
	h.m.Release()
}

// cutAhead cuts the segment at the keyframe (t, m, p, ext), which opens
// the next one; the frames held, all at or after the keyframe's time,
// follow it there (and wait again if that one is due at once).
func (r *recorder) cutAhead(t int, m *remux.Message, p payload, ext int64) {
	held := r.ahead
	r.ahead, r.aheadBytes = r.aheadSpare[:0], 0
	r.aheadSpare, r.aheadCarry = nil, held
	r.closeSegment()
	r.frame(t, m, p, ext)
	for i, h := range held {
		held[i] = heldFrame{}
		if h.t >= trackExtra {
			r.extraAt(h.t, h.m, h.p, h.ext)
		} else {
			r.frame(h.t, h.m, h.p, h.ext)
		}
		h.m.Release()
	}
	r.aheadCarry, r.aheadSpare = nil, held[:0]
}

// closeAhead writes every held frame into the segment about to close (a
// cut not at a keyframe: a discontinuity, a new configuration, the end).
func (r *recorder) closeAhead() {
	if len(r.ahead) > 0 {
		r.releaseAhead(math.MaxInt64)
	}
}

// dropAhead releases the held frames without writing them (after a
// panic, when their state is unknown).
func (r *recorder) dropAhead() {
	for _, list := range [][]heldFrame{r.ahead, r.aheadCarry} {
		for _, h := range list {
			if h.m != nil {
				h.m.Release()
				r.stats.Dropped.Add(1)
			}
		}
		clear(list)
	}
	r.ahead, r.aheadCarry, r.aheadBytes = r.ahead[:0], nil, 0
}
