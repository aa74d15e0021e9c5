package rtpdepack

import "slices"

// dtsGen derives decode timestamps for a video stream whose RTP timestamps
// are presentation times (PTS) and whose arrival order is decode order, as
// H.264 and H.265 over RTP are. Without B-frames DTS is PTS. With them, FLV
// needs a DTS that only grows and a composition offset PTS - DTS >= 0.
//
// With a reorder depth of d frames, the DTS of a frame is the (d+1)-th
// largest PTS seen so far (up to and including it). That is at most its own
// PTS (at most d earlier frames present later), never decreases, and for a
// regular frame rate equals the encoder's DTS shifted by d frame durations:
// the composition offsets are the true ones. Nothing is held back, so the
// depth costs no latency; a stream without B-frames (d = 0) gets DTS = PTS.
//
// d comes from the SPS when it states it (setReorder), and is otherwise
// learned: a frame that arrives after more than d frames with a later PTS
// shows a deeper reordering. Such a frame already lies before the last DTS
// given out; it is flagged late, and the caller drops it when no other
// frame refers to it (a non-reference B-frame) or sends it with CTS 0.
type dtsGen struct {
	reorder int
	top     []int64 // the largest PTS seen, ascending; at most maxReorder+1
	last    int64   // last DTS given out
	shift   int64   // ms added to every timestamp, see next
	started bool
}

// resetGap is how far (ms) a PTS may lie below the largest one seen before
// it is taken as a discontinuity (the camera stepped its clock back) rather
// than reordering, which spans a few frame durations. Learning a depth from
// a step back would leave the stream with needless composition offsets.
const resetGap = 1000

// setReorder sets the depth stated by a new SPS; -1 (not stated) keeps the
// current, possibly learned, one.
func (g *dtsGen) setReorder(n int) {
	if n >= 0 {
		g.reorder = min(n, maxReorder)
	}
}

// next returns the DTS and PTS (ms) for the next frame in decode order with
// presentation time pts (ms, from the Timeline); late reports a frame whose
// PTS lies shortly before the DTS, which could already not go lower: a
// reordering deeper than the depth was. Then pts == dts. A frame far before
// it (after a clock step back) is not late: its DTS is held until the
// clock catches up, as without B-frames.
func (g *dtsGen) next(pts int64) (dts, outPTS int64, late bool) {
	if !g.started {
		// The first d frames decode before the smallest PTS seen (that
		// of the first frame); with the timeline starting at 0 they need
		// d ms of room below it, spaced 1 ms apart, to stay strictly
		// increasing. Only streams with B-frames are shifted, by <= 16 ms.
		g.started = true
		g.shift = max(0, int64(g.reorder)-pts)
		g.last = -1
	}
	pts += g.shift
	if n := len(g.top); n > 0 && pts < g.top[n-1]-resetGap {
		g.top = g.top[:0]
	}
	i, _ := slices.BinarySearch(g.top, pts+1) // g.top[i:] are later than pts
	if later := len(g.top) - i; later > g.reorder {
		g.reorder = min(later, maxReorder)
	}
	g.top = slices.Insert(g.top, i, pts)
	if len(g.top) > maxReorder+1 {
		g.top = slices.Delete(g.top, 0, len(g.top)-(maxReorder+1))
	}
	if n := len(g.top); n > g.reorder {
		dts = g.top[n-1-g.reorder]
	} else {
		// Not primed: fewer frames than the depth so far.
		dts = g.top[0] - int64(g.reorder+1-n)
	}
	dts = max(dts, g.last, 0)
	if pts < dts {
		late = dts-pts <= resetGap
		pts = dts
	}
	g.last = dts
	return dts, pts, late
}
