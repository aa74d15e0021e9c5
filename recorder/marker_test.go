package recorder

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// markers lists the open markers below dir.
func markers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	var errs []error
	if err := walkFiles(dir, func(p string, _ os.DirEntry) {
		if isMarker(p) {
			out = append(out, p)
		}
	}, &errs); err != nil {
		t.Fatal(err)
	}
	return out
}

// A segment's marker exists, durable, before OnSegmentOpen reports it,
// and is gone once the segment is closed cleanly.
func TestMarkerCleanClose(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatFMP4, FormatMP4, FormatFLV} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var missing atomic.Int32
			cfg := Config{Dir: dir, Format: format, OnSegmentOpen: func(p string) {
				if _, err := os.Stat(markerPath(p)); err != nil {
					missing.Add(1)
				}
			}}
			segs, _ := record(t, messages(readFLV(t, mediaFile(t, "av"))), cfg)
			if len(segs) != 1 || missing.Load() != 0 {
				t.Fatalf("%d segments, %d opened without a marker", len(segs), missing.Load())
			}
			if m := markers(t, dir); len(m) != 0 {
				t.Errorf("markers left after a clean close: %v", m)
			}
			// A restart finds nothing to repair or report.
			if got, err := Recover(dir, time.Now(), 0); err != nil || len(got) != 0 {
				t.Errorf("Recover after a clean run: %+v, %v", got, err)
			}
		})
	}
}

// A segment cut by a write error keeps its marker: the next start repairs
// it once (its onMetaData gets the duration of what is there), and the
// start after that reports nothing.
func TestMarkerAfterWriteError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	msgs := messages(readFLV(t, mediaFile(t, "av")))
	var clock atomic.Int64
	opened := 0
	cfg := Config{Dir: dir, Format: FormatFLV, Logger: testLogger(t),
		Clock: mediaClock(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), &clock, 2),
		openFile: func(path string) (file, error) {
			f, err := openFileDefault(path)
			if err != nil {
				return nil, err
			}
			if opened++; opened == 1 {
				return &failFile{File: f.(*os.File), limit: 300 << 10}, nil
			}
			return f, nil
		},
	}
	src := newSource(msgs)
	src.clock = &clock
	var segs []Segment
	done := make(chan Segment, 10)
	cfg.OnSegmentDone = func(s Segment) { done <- s }
	if err := Record(context.Background(), src, "live", "cam1", cfg); !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	for range 2 {
		segs = append(segs, <-done)
	}
	var cut string
	for _, s := range segs {
		if s.Err != nil {
			cut = s.Path
		}
	}
	if m := markers(t, dir); len(m) != 1 || m[0] != markerPath(cut) {
		t.Fatalf("markers %v, want the one of the cut segment %s", m, cut)
	}
	os.Chtimes(cut, recoverOld, recoverOld)
	got, err := Recover(dir, recoverNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != cut || (got[0].Action != RecoveredRepaired && got[0].Action != RecoveredTruncated) {
		t.Fatalf("first start: %+v, want the cut segment repaired", got)
	}
	tags := readFLV(t, cut)
	fi, _ := os.Stat(cut)
	checkFLVIndex(t, cut, tags, int(fi.Size()))
	if again, _ := Recover(dir, recoverNow, time.Minute); len(again) != 0 {
		t.Errorf("second start: %+v", again)
	}
	if m := markers(t, dir); len(m) != 0 {
		t.Errorf("markers after recovery: %v", m)
	}
}
