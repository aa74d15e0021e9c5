package recorder

import (
	"errors"
	"io"
	"testing"
	"time"
)

// What the recorder writes, the index lists in the order it was written,
// each file with its format as it is on disk (an "mp4" recording is
// progressive once closed) and its duration: the recorder's for segments
// reported Closed, read from the file by a fresh index (after a restart).
func TestIndexOfRecordedSegments(t *testing.T) {
	in := mediaFile(t, "av")
	for _, format := range []string{FormatFMP4, FormatMP4, FormatFLV} {
		t.Run(format, func(t *testing.T) {
			msgs := messages(readFLV(t, in))
			dir := t.TempDir()
			x := NewIndex(dir, nil)
			start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
			segs, err := record(t, msgs, Config{Dir: dir, Format: format, SegmentDuration: 2 * time.Second,
				Clock: &fakeClock{base: start}, OnSegmentDone: x.Closed})
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Record: %v", err)
			}
			checkReleased(t, msgs)
			listed, err := x.Segments("live", "cam1", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != len(segs) || len(segs) < 3 {
				t.Fatalf("listed %d segments, recorded %d (want >= 3)", len(listed), len(segs))
			}
			fresh := NewIndex(dir, nil) // after a restart, a while later
			fresh.now = func() time.Time { return time.Now().Add(RecentWriteWindow) }
			reread, _ := fresh.Segments("live", "cam1", time.Time{}, time.Time{})
			fresh.FillDurations(reread, DurationBudget)
			for i, s := range listed {
				if s.Path != segs[i].Path || s.Format != format || s.Open || !s.Name.Start.Equal(start) || s.Name.Seq != i {
					t.Errorf("segment %d: %+v, recorded %+v", i, s, segs[i])
				}
				if s.Duration != segs[i].Duration {
					t.Errorf("segment %d: duration %v, the recorder's %v", i, s.Duration, segs[i].Duration)
				}
				if d := reread[i].Duration - segs[i].Duration; d < -100*time.Millisecond || d > 100*time.Millisecond {
					t.Errorf("segment %d: duration read from the file %v, the recorder's %v", i, reread[i].Duration, segs[i].Duration)
				}
			}
		})
	}
}
