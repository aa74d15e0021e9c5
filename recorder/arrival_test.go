package recorder

import (
	"path/filepath"
	"testing"
	"time"
)

// A recorder that runs behind (kept from running for seconds on a starved
// box, then catching up) dates each segment by when its first frame
// reached the hub, not by when it got round to opening it: its names and
// starts stay on the timeline, one segment's end at the next one's start.
// Before, every segment the late recorder opened was dated by its clock
// at the opening, so here all three would say the same second (names -1,
// -2) and each would overlap the next by its media.
func TestSegmentDatedByArrival(t *testing.T) {
	t.Parallel()
	msgs := messages(readFLV(t, mediaFile(t, "av")))
	// The 6 s stream arrived at media pace, ending 1 s ago; the recorder
	// sees all of it only now, on a clock that stands still.
	end := msgs[len(msgs)-1].Timestamp
	arrivedAt := func(ts uint32) time.Time {
		return time.Now().Add(-time.Second - time.Duration(end-ts)*time.Millisecond)
	}
	for _, m := range msgs {
		m.Arrived = arrivedAt(m.Timestamp)
	}
	clock := fixedClock()
	started := time.Now()
	segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: FormatFMP4, SegmentDuration: 2 * time.Second, Clock: clock}, 3)
	took := time.Since(started)

	for i, s := range segs {
		lag := clock.Now().Sub(s.Start)
		if i == 0 {
			// It arrived 6 s + 1 s before the recording started, give or
			// take how long the recording took.
			if want := time.Second + time.Duration(end)*time.Millisecond; lag < want-50*time.Millisecond || lag > want+took+50*time.Millisecond {
				t.Errorf("first segment starts %v before the clock, want about %v", lag, want)
			}
		} else {
			prev := segs[i-1]
			if gap := s.Start.Sub(prev.Start.Add(prev.Duration)); gap < -100*time.Millisecond || gap > 100*time.Millisecond {
				t.Errorf("%s starts %v after the end of %s (%v + %v): want within 100 ms",
					filepath.Base(s.Path), gap, filepath.Base(prev.Path), prev.Start, prev.Duration)
			}
		}
		n, ok := ParseSegmentName(s.Path)
		if !ok || n.Seq != 0 {
			t.Errorf("%s: want a name without a uniqueness suffix", s.Path)
		}
		if d := n.Start.Sub(s.Start); d > 0 || d <= -time.Second {
			t.Errorf("%s: the name says %v, the start is %v", filepath.Base(s.Path), n.Start, s.Start)
		}
	}
}

// Frames that reached the hub a moment ago (or whose arrival is unknown)
// leave the recorder's clock the one a segment is dated by.
func TestArrivalLagOnlyWhenLate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		arrived time.Time
		late    bool
	}{
		{"unknown", time.Time{}, false},
		{"just now", time.Now(), false},
		{"in the future", time.Now().Add(time.Hour), false},
		{"50 ms ago", time.Now().Add(-50 * time.Millisecond), false},
		{"3 s ago", time.Now().Add(-3 * time.Second), true},
	} {
		lag := arrivalLag(tc.arrived)
		if late := lag > 0; late != tc.late {
			t.Errorf("%s: lag %v", tc.name, lag)
		}
		if tc.late && (lag < 3*time.Second || lag > 4*time.Second) {
			t.Errorf("%s: lag %v, want about 3 s", tc.name, lag)
		}
	}
}

// After the whole process was stalled, the frames that waited in the socket
// arrive in a burst: a segment that opens on one of them is dated by the
// media's timeline (dating.go), not by the burst, and ends where the next
// one starts. By arrival alone it would start 2.5 s late, on top of the
// next one.
func TestSegmentDatedThroughAStall(t *testing.T) {
	t.Parallel()
	msgs := messages(readFLV(t, mediaFile(t, "av")))
	end := msgs[len(msgs)-1].Timestamp
	t0 := time.Now().Add(-time.Second - time.Duration(end)*time.Millisecond)
	for _, m := range msgs {
		ts := m.Timestamp
		if ts >= 1500 && ts < 4500 {
			ts = 4500 // read in a burst once the process ran again
		}
		m.Arrived = t0.Add(time.Duration(ts) * time.Millisecond)
	}
	segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: FormatFMP4, SegmentDuration: 2 * time.Second, Clock: fixedClock()}, 3)
	for i := 1; i < len(segs); i++ {
		prev, s := segs[i-1], segs[i]
		if gap := s.Start.Sub(prev.Start.Add(prev.Duration)); gap < -100*time.Millisecond || gap > 100*time.Millisecond {
			t.Errorf("%s starts %v after the end of %s (%v + %v): want within 100 ms",
				filepath.Base(s.Path), gap, filepath.Base(prev.Path), prev.Start, prev.Duration)
		}
	}
}
