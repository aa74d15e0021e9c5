package recorder

import "time"

// Segments are dated along the media's timeline. A segment's start could be
// read off a clock when the recorder opens it, or off its first frame's
// arrival in the hub (arrival.go); both are late when the whole process
// was kept from running: the publisher's frames waited in the socket, were
// read in a burst once it ran again, and a segment opened on one of them is
// dated by the burst, seconds after the frame was recorded, while the next
// is on time again, so the first overlaps the second (seen in the soak of
// issue 15: up to 23 s, beside real-time load). The media's own timeline
// does not have that lag: a segment that opens ext - anchorExt ms of media
// after the anchor's started that long after it. So the first segment of
// a timeline is dated by its arrival (the anchor), and each later one by
// the anchor plus the media between, as long as that stays believable
// against its arrival:
//
//   - never after its arrival: media running ahead of the wall clock (a
//     publisher sending faster than real time) is dated by arrival, and by
//     more than mediaAhead it is a new anchor;
//   - behind its arrival by up to mediaSlack: jitter, dated by the media;
//   - further behind, while that lag shrinks from one segment to the next
//     (the burst after a stall being caught up): dated by the media;
//   - further behind and not shrinking (a camera whose clock runs slow,
//     a gap the timestamps do not show), or by more than mediaBehind: a
//     new anchor at its arrival.
//
// A new timeline (a new publish, a timestamp discontinuity) starts over.
const (
	mediaAhead  = time.Second
	mediaSlack  = 2 * time.Second
	mediaBehind = time.Minute
)

// mediaDating is a recorder's anchor between its media's timeline and the
// steady clock. The zero value has none.
type mediaDating struct {
	anchored bool
	ext      int64         // unwrapped media ms of the anchor
	at       time.Duration // its steady time
	behind   time.Duration // the previous segment's lag behind its arrival, past mediaSlack (else 0)
}

// start returns the steady time a segment opening on the frame at media
// time ext, which arrived at steady time arrived, started at.
func (d *mediaDating) start(ext int64, arrived time.Duration) time.Duration {
	if !d.anchored {
		d.anchor(ext, arrived)
		return arrived
	}
	media := d.at + time.Duration(ext-d.ext)*time.Millisecond
	behind := arrived - media
	switch {
	case behind < 0:
		if behind < -mediaAhead {
			d.anchor(ext, arrived)
		}
		d.behind = 0
		return arrived
	case behind <= mediaSlack:
		d.behind = 0
		return media
	case behind <= mediaBehind && (d.behind == 0 || behind < d.behind):
		d.behind = behind
		return media
	}
	d.anchor(ext, arrived)
	return arrived
}

func (d *mediaDating) anchor(ext int64, arrived time.Duration) {
	*d = mediaDating{anchored: true, ext: ext, at: arrived}
}
