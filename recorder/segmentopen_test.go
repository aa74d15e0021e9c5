package recorder

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// OnSegmentOpen reports each segment file as soon as it exists, before
// anything is written, and every open is paired with exactly one done for
// the same path, also when the header cannot be written.
func TestOnSegmentOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		format     string
		failWrites bool // every write fails: the header cannot be written
		wantSegs   int  // segments successfully opened
	}{
		{"fmp4", FormatFMP4, false, 3},
		{"mp4", FormatMP4, false, 3},
		{"flv", FormatFLV, false, 3},
		{"fmp4 header fails", FormatFMP4, true, 0},
		{"flv header fails", FormatFLV, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := mediaFile(t, "av")
			msgs := messages(readFLV(t, in))
			var (
				mu     sync.Mutex
				opened []string
				done   []Segment
				open   OpenSegments
				inOpen []string // problems seen inside the callbacks
			)
			stats := new(Stats)
			var clock atomic.Int64
			cfg := Config{
				Dir: t.TempDir(), Format: tc.format, SegmentDuration: 2 * time.Second,
				Stats: stats, Logger: testLogger(t), Clock: fixedClock(),
				OnSegmentOpen: func(path string) {
					mu.Lock()
					defer mu.Unlock()
					fi, err := os.Stat(path)
					if err != nil || fi.Size() != 0 {
						inOpen = append(inOpen, "file not freshly created at OnSegmentOpen: "+path)
					}
					opened = append(opened, path)
					open.Opened(path)
				},
				OnSegmentDone: func(s Segment) {
					time.Sleep(20 * time.Millisecond) // Record must wait for this
					mu.Lock()
					defer mu.Unlock()
					if !open.InUse(s.Path) {
						inOpen = append(inOpen, "done without open: "+s.Path)
					}
					done = append(done, s)
					open.Done(s.Path)
				},
			}
			if tc.failWrites {
				// Wall clock follows the media, so the 3 s retry happens.
				t0 := time.Now()
				src := newSource(msgs)
				cfg.Clock = mediaClock(t0, &clock, 1)
				cfg.openFile = func(path string) (file, error) {
					f, err := openFileDefault(path)
					if err != nil {
						return nil, err
					}
					return &failFile{File: f.(*os.File), limit: 0}, nil
				}
				src.clock = &clock
				err := Record(context.Background(), src, "live", "cam1", cfg)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Record: %v", err)
				}
			} else {
				err := Record(context.Background(), newSource(msgs), "live", "cam1", cfg)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Record: %v", err)
				}
			}
			checkReleased(t, msgs)
			// Record has returned: every OnSegmentDone has returned too.
			mu.Lock()
			defer mu.Unlock()
			for _, p := range inOpen {
				t.Error(p)
			}
			if got := stats.Segments.Load(); got != int64(tc.wantSegs) {
				t.Errorf("%d segments opened, want %d", got, tc.wantSegs)
			}
			if len(opened) == 0 || len(done) != len(opened) {
				t.Fatalf("%d OnSegmentOpen, %d OnSegmentDone", len(opened), len(done))
			}
			var donePaths []string
			for _, s := range done {
				donePaths = append(donePaths, s.Path)
				_, statErr := os.Stat(s.Path)
				if tc.failWrites {
					if s.Err == nil || s.Bytes != 0 || !errors.Is(statErr, os.ErrNotExist) {
						t.Errorf("failed header: segment %+v, stat %v; want Err, Bytes 0, file removed", s, statErr)
					}
				} else if s.Err != nil || s.Bytes == 0 || statErr != nil {
					t.Errorf("segment %+v, stat %v", s, statErr)
				}
			}
			slices.Sort(donePaths)
			sortedOpen := slices.Sorted(slices.Values(opened))
			if !slices.Equal(sortedOpen, donePaths) {
				t.Errorf("opened %v, done %v", sortedOpen, donePaths)
			}
			if n := open.Len(); n != 0 {
				t.Errorf("%d files still in use after Record returned", n)
			}
			if tc.failWrites && stats.WriteErrors.Load() < 2 {
				t.Errorf("write errors %d, want a failure and a retry", stats.WriteErrors.Load())
			}
		})
	}
}
