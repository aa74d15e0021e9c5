package recorder

import (
	"testing"
	"time"
)

func TestMediaDating(t *testing.T) {
	s := time.Second
	type open struct {
		ext     int64         // media ms of the opening frame
		arrived time.Duration // its arrival, steady
		want    time.Duration // the segment's start
	}
	for _, tc := range []struct {
		name  string
		opens []open
	}{
		{"on time", []open{{0, 10 * s, 10 * s}, {3000, 13*s + 20*time.Millisecond, 13 * s}, {6000, 16 * s, 16 * s}}},
		// A 6 s stall: the segment opened in the burst after it is dated by
		// its media, so it ends where the next one starts.
		{"stall", []open{{0, 10 * s, 10 * s}, {3000, 13 * s, 13 * s}, {6000, 19*s + 600*time.Millisecond, 16 * s},
			{9000, 19*s + 620*time.Millisecond, 19 * s}, {12000, 22 * s, 22 * s}}},
		// A 23 s stall caught up over several segments: the lag shrinks.
		{"long stall", []open{{0, 10 * s, 10 * s}, {3000, 36 * s, 13 * s}, {6000, 36*s + 10*time.Millisecond, 16 * s},
			{9000, 36*s + 20*time.Millisecond, 19 * s}, {30000, 40 * s, 40 * s}}},
		// Media faster than real time: never dated after its arrival, and a
		// new anchor once it is more than mediaAhead ahead.
		{"ahead", []open{{0, 10 * s, 10 * s}, {3000, 12*s + 500*time.Millisecond, 12*s + 500*time.Millisecond},
			{6000, 14 * s, 14 * s}, {9000, 17 * s, 17 * s}}},
		// A slow media clock: the lag grows past mediaSlack and does not
		// shrink, so the segment after is anchored to its arrival.
		{"drift", []open{{0, 10 * s, 10 * s}, {3000, 15*s + 500*time.Millisecond, 13 * s}, {6000, 19 * s, 19 * s},
			{9000, 22 * s, 22 * s}}},
		// More than mediaBehind behind: a new anchor at once.
		{"gap", []open{{0, 10 * s, 10 * s}, {3000, 100 * s, 100 * s}, {6000, 103 * s, 103 * s}}},
	} {
		var d mediaDating
		for i, o := range tc.opens {
			if got := d.start(o.ext, o.arrived); got != o.want {
				t.Errorf("%s: segment %d (media %d ms, arrived %v) starts %v, want %v", tc.name, i, o.ext, o.arrived, got, o.want)
			}
		}
	}
}
