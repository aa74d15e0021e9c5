package recorder

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var clockBase = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// stepClock is a fakeClock whose steady time is set by the test.
func stepClock() (*fakeClock, *time.Duration) {
	e := new(time.Duration)
	return &fakeClock{base: clockBase, elapsed: func() time.Duration { return *e }}, e
}

func TestClockStepsCorrect(t *testing.T) {
	t.Parallel()
	fc, e := stepClock()
	cs := NewClockSteps(fc)
	before := clockBase.Add(-time.Hour) // a file of an earlier run
	*e = 10 * time.Minute
	a := cs.Now()
	const year = 365 * 24 * time.Hour
	fc.Step(year)
	*e = 11 * time.Minute
	if got, want := cs.Now(), clockBase.Add(year+11*time.Minute); !got.Equal(want) {
		t.Fatalf("Now %v, want %v", got, want)
	}
	if got := cs.Correct(a); !got.Equal(a.Add(year)) {
		t.Errorf("a time read before a forward step: %v, want %v", got, a.Add(year))
	}
	if got := cs.Correct(before); !got.Equal(before) {
		t.Errorf("a time from before the run moved to %v", got)
	}
	*e = 12 * time.Minute
	b := cs.Now()
	fc.Step(-24 * time.Hour)
	*e = 13 * time.Minute
	if got := cs.Correct(b); !got.Equal(b.Add(-24 * time.Hour)) {
		t.Errorf("a time read before a backward step: %v, want %v", got, b.Add(-24*time.Hour))
	}
	if got := cs.Correct(a); !got.Equal(a.Add(year - 24*time.Hour)) {
		t.Errorf("a time read before both steps: %v, want %v", got, a.Add(year-24*time.Hour))
	}
	if cs.Steps() != 2 {
		t.Errorf("%d steps, want 2", cs.Steps())
	}
	// A small backward step: times read around it could be of either
	// frame, and the youngest reading (no correction) wins.
	*e = 14 * time.Minute
	cs.Now()
	fc.Step(-time.Minute)
	*e = 14*time.Minute + 10*time.Second
	x := cs.Now().Add(-5 * time.Second)
	if got := cs.Correct(x); !got.Equal(x) {
		t.Errorf("ambiguous time moved to %v", got)
	}
	// NTP slewing (well below the tolerance per reading) is no step.
	for i := range 100 {
		*e += 10 * time.Second
		fc.Step(100 * time.Millisecond)
		_ = i
		cs.Now()
	}
	if cs.Steps() != 3 {
		t.Errorf("slewing counted as steps: %d", cs.Steps())
	}
}

// writeAt creates a recording whose modification time is mod.
func writeAt(t *testing.T, dir, name string, mod time.Time) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
	return p
}

// Retention by age across steps of the wall clock: a forward step of a
// year deletes only what is really older than MaxAge, a backward step of
// a day keeps recordings only as long as MaxAge says.
func TestSweepAcrossClockSteps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fc, e := stepClock()
	cs := NewClockSteps(fc)
	p := Policy{MaxAge: time.Hour, Clock: cs}
	sweep := func(policy Policy) []string {
		t.Helper()
		deleted, _, err := Sweep(dir, policy, nil, cs.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range deleted {
			deleted[i] = filepath.Base(deleted[i])
		}
		sort.Strings(deleted)
		return deleted
	}
	writeAt(t, dir, "earlier-run.mp4", clockBase.Add(-2*time.Hour))
	*e = 5 * time.Minute
	writeAt(t, dir, "a.mp4", cs.Now())
	fc.Step(365 * 24 * time.Hour)
	*e = 6 * time.Minute
	if got := sweep(p); len(got) != 1 || got[0] != "earlier-run.mp4" {
		t.Errorf("after a forward step of a year: deleted %v, want only the recording of the earlier run", got)
	}
	if got := sweep(Policy{MaxAge: time.Hour}); len(got) != 1 {
		t.Fatalf("without the clock (the bug this guards against): deleted %v, want a.mp4", got)
	}
	writeAt(t, dir, "a.mp4", clockBase.Add(5*time.Minute)) // put it back, as it was
	writeAt(t, dir, "b.mp4", cs.Now())
	fc.Step(-24 * time.Hour)
	*e = 7 * time.Minute
	if got := sweep(p); len(got) != 0 {
		t.Errorf("after a backward step of a day: deleted %v", got)
	}
	*e = 5*time.Minute + time.Hour + time.Second
	if got := sweep(p); len(got) != 1 || got[0] != "a.mp4" {
		t.Errorf("an hour after a was written: deleted %v, want a.mp4", got)
	}
	*e = 6*time.Minute + time.Hour + time.Second
	if got := sweep(p); len(got) != 1 || got[0] != "b.mp4" {
		t.Errorf("an hour after b was written (a day before its modification time): deleted %v, want b.mp4", got)
	}
}

// recordWithClock records the 6 s test media with the steady clock
// following the media and the wall clock stepping as scheduled. Retention
// (MaxAge 1 h, sharing the clock) sweeps after every segment, with each
// file's modification time set to the wall clock at its close, as the
// file system would. Returns the segments in recording order.
func recordWithClock(t *testing.T, schedule []clockStep) ([]Segment, *Stats, string) {
	t.Helper()
	return recordWithRenamer(t, schedule, nil)
}

// recordWithRenamer is recordWithClock with renamer guarding the renames
// of closed segments after a step.
func recordWithRenamer(t *testing.T, schedule []clockStep, renamer Renamer) ([]Segment, *Stats, string) {
	t.Helper()
	dir := t.TempDir()
	var ms atomic.Int64
	fc := mediaClock(clockBase, &ms, 1)
	fc.schedule = schedule
	cs := NewClockSteps(fc)
	cs.Logger = testLogger(t)
	cs.SetRenamer(renamer)
	var open OpenSegments
	var mu sync.Mutex
	var segs []Segment
	var deleted []string
	var opened, reported atomic.Int64
	stats := new(Stats)
	cfg := Config{Dir: dir, Format: FormatFLV, Clock: cs, SyncEvery: 500 * time.Millisecond, Stats: stats, Logger: testLogger(t),
		OnSegmentOpen: func(p string) { opened.Add(1); open.Opened(p) },
		OnSegmentDone: func(s Segment) {
			defer reported.Add(1)
			defer open.Done(s.OpenPath)
			os.Chtimes(s.Path, cs.Now(), cs.Now())
			d, _, err := Sweep(dir, Policy{MaxAge: time.Hour, Clock: cs}, open.InUse, cs.Now(), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			segs = append(segs, s)
			deleted = append(deleted, d...)
		},
	}
	src := newSource(messages(readFLV(t, mediaFile(t, "av"))))
	src.clock = &ms
	// Media arrives in real time, the callbacks (Sweep) run in
	// microseconds: wait for every closed segment's callback before the
	// next batch, as a real stream would, so that a step finds the
	// segments closed before it reported (and renames them).
	src.wait = func() {
		for reported.Load() < opened.Load()-1 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := Record(context.Background(), src, "live", "cam1", cfg); !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deleted) != 0 {
		t.Errorf("retention deleted %v across the clock steps", deleted)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	return segs, stats, dir
}

// checkName checks that a segment starts at start (within a batch of
// messages: the steady clock follows the media a batch at a time), is
// named by its start, and is there.
func checkName(t *testing.T, dir string, s Segment, start time.Time) {
	t.Helper()
	want := filepath.Join(dir, filepath.FromSlash(expandTemplate(DefaultPathTemplate, "live", "cam1", s.Start))) + ".flv"
	if d := s.Start.Sub(start); s.Path != want || d < 0 || d > 300*time.Millisecond {
		t.Errorf("segment %s starting %v, want %s starting %v", s.Path, s.Start, want, start)
	}
	if _, err := os.Stat(s.Path); err != nil {
		t.Error(err)
	}
}

// The wall clock steps forward by a year and back by a day while a
// segment is being recorded (NTP setting the clock of a box that booted
// with a wrong one, then correcting it): the segment is cut at the next
// keyframe and named by its true start on the final clock, the segments
// after it follow in order, and retention deletes nothing.
func TestRecordAcrossClockSteps(t *testing.T) {
	t.Parallel()
	const year, day = 365 * 24 * time.Hour, 24 * time.Hour
	final := clockBase.Add(year - day) // the final clock's reading at steady time 0
	segs, stats, dir := recordWithClock(t, []clockStep{{1200 * time.Millisecond, year}, {1300 * time.Millisecond, -day}})
	if len(segs) != 2 || stats.ClockSteps.Load() == 0 {
		t.Fatalf("%d segments, %d clock steps; want 2 segments cut by the steps", len(segs), stats.ClockSteps.Load())
	}
	checkName(t, dir, segs[0], final)
	if segs[0].OpenPath == segs[0].Path {
		t.Errorf("first segment not renamed: %s", segs[0].Path)
	}
	// The second opened at the keyframe after the steps (GOP 1 s), on
	// the final clock.
	checkName(t, dir, segs[1], final.Add(2*time.Second))
	if !segs[0].Start.Add(segs[0].Duration).Add(-100 * time.Millisecond).Before(segs[1].Start) {
		t.Errorf("timeline overlaps: %v+%v then %v", segs[0].Start, segs[0].Duration, segs[1].Start)
	}
	if m := markers(t, dir); len(m) != 0 {
		t.Errorf("markers left: %v", m)
	}
	for _, s := range segs {
		checkSegment(t, s.Path, "video", "audio")
	}
}

// Steps in different segments (forward a year, then back a day, while
// recording): each segment open across a step is named by its true start
// on the clock of its close, and the segments closed before a step are
// renamed to theirs (here the first one, a day ahead of the others until
// the backward step): every name, on disk, in the index and in playback's
// listing, is its true start, in recording order, with no sidecar left;
// retention deletes nothing across the steps (recordWithClock) and ages
// them by their true start later.
func TestRecordAcrossSeparateClockSteps(t *testing.T) {
	t.Parallel()
	const year, day = 365 * 24 * time.Hour, 24 * time.Hour
	segs, stats, dir := recordWithClock(t, []clockStep{{1500 * time.Millisecond, year}, {3500 * time.Millisecond, -day}})
	if len(segs) != 3 || stats.ClockSteps.Load() != 2 {
		t.Fatalf("%d segments, %d clock steps; want 3 segments, 2 steps", len(segs), stats.ClockSteps.Load())
	}
	// Sorted by start: the two after the backward step, then the first.
	first, second, third := segs[2], segs[0], segs[1]
	if d := first.Start.Sub(clockBase.Add(year)); d < 0 || d > 300*time.Millisecond {
		t.Errorf("first segment starting %v, want %v", first.Start, clockBase.Add(year))
	}
	// Cut at the keyframes after the steps (GOP 1 s): at 2 s and 4 s.
	checkName(t, dir, second, clockBase.Add(year-day+2*time.Second))
	checkName(t, dir, third, clockBase.Add(year-day+4*time.Second))
	if !second.Start.Add(second.Duration).Add(-100 * time.Millisecond).Before(third.Start) {
		t.Errorf("timeline overlaps: %v+%v then %v", second.Start, second.Duration, third.Start)
	}
	if second.OpenPath == second.Path || third.OpenPath != third.Path {
		t.Errorf("renames: second %s -> %s, third %s -> %s", second.OpenPath, second.Path, third.OpenPath, third.Path)
	}
	// The first, closed before the backward step (its hooks got the old
	// name), is renamed to its true start: the names, the index, the API
	// and playback date and order all three by when they were recorded.
	final := clockBase.Add(year - day)
	renamed := filepath.Join(dir, filepath.FromSlash(expandTemplate(DefaultPathTemplate, "live", "cam1", final))) + ".flv"
	if _, err := os.Stat(first.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("first segment still under the name the wrong clock gave: %s (%v)", first.Path, err)
	}
	if _, err := os.Stat(renamed); err != nil {
		t.Errorf("first segment not renamed to its true start: %v", err)
	}
	if _, err := os.Stat(startSidecar(first.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("start sidecar left beside the old name: %v", err)
	}
	if _, err := os.Stat(startSidecar(renamed)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("start sidecar beside the renamed segment: %v", err)
	}
	// Every file's name on disk is its true start, within a second, in
	// recording order, and nothing was deleted.
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	if len(names) != 3 {
		t.Fatalf("files on disk: %v, want the three segments and nothing else", names)
	}
	for i, p := range names {
		n, _ := ParseSegmentName(p)
		w := final.Add(time.Duration(2*i) * time.Second)
		if d := n.Start.Sub(w); d < -time.Second || d > time.Second {
			t.Errorf("file #%d %s: its name says %v, its true start is %v", i, filepath.Base(p), n.Start, w)
		}
	}
	want := []struct {
		path  string
		start time.Time
		fixed bool
	}{{renamed, final, false}, {second.Path, final.Add(2 * time.Second), false}, {third.Path, final.Add(4 * time.Second), false}}
	check := func(how string, got []SegmentInfo) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d segments, want %d", how, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if d := g.Start.Sub(w.start); g.Path != w.path || d < 0 || d > 300*time.Millisecond || g.StartCorrected != w.fixed {
				t.Errorf("%s #%d: %s starting %v (corrected %v), want %s starting %v (corrected %v)",
					how, i, filepath.Base(g.Path), g.Start, g.StartCorrected, filepath.Base(w.path), w.start, w.fixed)
			}
			if i > 0 && got[i-1].End().After(g.Start.Add(100*time.Millisecond)) {
				t.Errorf("%s: timeline overlaps: #%d ends %v, #%d starts %v", how, i-1, got[i-1].End(), i, g.Start)
			}
		}
	}
	x := NewIndex(dir, nil)
	segsIdx, err := x.Segments("live", "cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	x.FillDurations(segsIdx, time.Minute)
	check("index", segsIdx)
	all, err := x.All(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	x.FillDurations(all, time.Minute)
	check("index, all streams", all)
	listed, err := ListDir(filepath.Dir(renamed))
	if err != nil {
		t.Fatal(err)
	}
	for i := range listed {
		listed[i].Duration = segsIdx[i].Duration
	}
	check("playback's listing", listed)
	// From ?from= on the corrected clock: the first is found by its true
	// start, not by its name a day ahead.
	if got, _ := x.Segments("live", "cam1", final, final.Add(time.Second)); len(got) != 1 || got[0].Path != renamed {
		t.Errorf("segments at the first one's true start: %v", got)
	}

	// A later run (a fresh clock, no steps) ages the first by its true
	// start: its modification time, stamped a day ahead, does not keep it
	// for an extra day.
	later := &fakeClock{base: final.Add(time.Hour + time.Minute)}
	deleted, _, err := Sweep(dir, Policy{MaxAge: time.Hour, Clock: NewClockSteps(later)}, nil, later.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 3 {
		t.Errorf("an hour after the recording, in a later run: deleted %v, want all three", deleted)
	}
	if _, err := os.Stat(startSidecar(first.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("start sidecar left behind its recording: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "live")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directories not pruned: %v", err)
	}
}

// A closed segment whose rename the guard refuses (its upload is under
// way) keeps its name and gets its true start in a sidecar, which the
// index dates and orders it by; the guard is asked with its true start.
func TestRecordStepRenameRefused(t *testing.T) {
	t.Parallel()
	const year, day = 365 * 24 * time.Hour, 24 * time.Hour
	final := clockBase.Add(year - day)
	var asked []time.Time
	var mu sync.Mutex
	refuse := func(path string, start time.Time, rename func() (string, error)) (string, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, start)
		return path, false, nil
	}
	segs, _, dir := recordWithRenamer(t, []clockStep{{1500 * time.Millisecond, year}, {3500 * time.Millisecond, -day}}, refuse)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	first := segs[2] // named a day ahead
	mu.Lock()
	if len(asked) != 1 || asked[0].Sub(final) < 0 || asked[0].Sub(final) > 300*time.Millisecond {
		t.Errorf("guard asked for %v, want once, for the first segment's true start %v", asked, final)
	}
	mu.Unlock()
	if _, err := os.Stat(first.Path); err != nil {
		t.Errorf("refused rename: the segment moved: %v", err)
	}
	if got, ok := readStartSidecar(first.Path); !ok || got.Sub(final) < 0 || got.Sub(final) > 300*time.Millisecond {
		t.Errorf("sidecar %v %v, want the true start %v", got, ok, final)
	}
	got, err := NewIndex(dir, nil).Segments("live", "cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Path != first.Path || !got[0].StartCorrected {
		t.Errorf("index: %+v, want the kept segment first, its start corrected", got)
	}
}

// The wall clock steps back across segments already closed, while the
// stream is not being recorded: the next start of recording, and the
// clock readings of anyone sharing it, write their true starts; a step
// back to where it was removes them again.
func TestStartSidecarFollowsClock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fc, e := stepClock()
	cs := NewClockSteps(fc)
	p := filepath.Join(dir, "2025-03-04_05-06-07.flv")
	os.WriteFile(p, []byte("x"), 0o644)
	cs.track(p, clockBase, 0, nil) // no namer: kept, as a segment whose upload is under way
	if _, err := os.Stat(startSidecar(p)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sidecar without a step: %v", err)
	}
	*e = time.Minute
	fc.Step(-24 * time.Hour)
	cs.Now()
	if got, ok := readStartSidecar(p); !ok || !got.Equal(clockBase.Add(-24*time.Hour)) {
		t.Errorf("after a step back of a day: sidecar %v %v, want %v", got, ok, clockBase.Add(-24*time.Hour))
	}
	fc.Step(-time.Hour)
	cs.Elapsed()
	if got, ok := readStartSidecar(p); !ok || !got.Equal(clockBase.Add(-25*time.Hour)) {
		t.Errorf("after a second step: sidecar %v %v", got, ok)
	}
	fc.Step(25 * time.Hour)
	cs.Steps()
	if _, err := os.Stat(startSidecar(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sidecar left after the clock came back: %v", err)
	}
	// A segment gone meanwhile gets no sidecar.
	os.Remove(p)
	fc.Step(-time.Hour)
	cs.Now()
	if _, err := os.Stat(startSidecar(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sidecar written for a deleted segment: %v", err)
	}
}

// A box that booted in 1970 (no real-time clock, no saved time) and has
// not synchronised yet: its new recordings carry 1970 modification times,
// older than those of the recordings of earlier runs. Freeing space
// deletes the earlier run's recording first, and ages are sane once NTP
// sets the clock.
func TestSweepBootedIn1970(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := new(time.Duration)
	fc := &fakeClock{base: time.Unix(0, 0).UTC(), elapsed: func() time.Duration { return *e }}
	cs := NewClockSteps(fc)
	writeAt(t, dir, "earlier-run.mp4", clockBase)
	*e = 5 * time.Minute
	writeAt(t, dir, "this-run.mp4", cs.Now())
	// Room for one of the two 1-byte files.
	deleted, _, err := Sweep(dir, Policy{MaxBytes: 1, MaxAge: time.Hour, Clock: cs}, nil, cs.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || filepath.Base(deleted[0]) != "earlier-run.mp4" {
		t.Fatalf("deleted %v, want the earlier run's recording", deleted)
	}
	fc.Step(clockBase.Sub(fc.base)) // NTP: the real date
	*e = 10 * time.Minute
	deleted, _, err = Sweep(dir, Policy{MaxAge: time.Hour, Clock: cs}, nil, cs.Now(), nil)
	if err != nil || len(deleted) != 0 {
		t.Errorf("after NTP set the clock 56 years forward: deleted %v (%v)", deleted, err)
	}
}

// Renaming after a step takes the template's name for the true start,
// with -N when that is taken (by a file, or by a segment being created),
// in another directory when the template puts dates in directories.
func TestRenameSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{Dir: dir, Format: FormatFLV, PathTemplate: "{app}/{stream}/{YYYY}/{MM}-{DD}_{hh}-{mm}-{ss}"}
	cfg.setDefaults()
	start := clockBase.Add(365 * 24 * time.Hour)
	old, f, err := createSegmentFile(&cfg, "live", "cam1", clockBase)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := filepath.Join(dir, "live", "cam1", "2026", "03-04_05-06-07")
	os.MkdirAll(filepath.Dir(want), 0o755)
	os.WriteFile(want+".flv", nil, 0o644)
	os.WriteFile(markerPath(want+"-1.flv"), nil, 0o644)
	got, err := renameSegment(&cfg, "live", "cam1", old, start)
	if err != nil {
		t.Fatal(err)
	}
	if got != want+"-2.flv" {
		t.Errorf("renamed to %s, want %s-2.flv", got, want)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
	// Already named by its start: left as is.
	if again, err := renameSegment(&cfg, "live", "cam1", got, start); err != nil || again != got {
		t.Errorf("second rename: %s, %v", again, err)
	}
}

// The system clock's two readings agree while nobody sets the clock.
func TestSystemClock(t *testing.T) {
	t.Parallel()
	c := NewSystemClock()
	_, e0, o0 := readClock(c)
	time.Sleep(20 * time.Millisecond)
	_, e1, o1 := readClock(c)
	if e1-e0 < 20*time.Millisecond || e1-e0 > time.Second {
		t.Errorf("steady clock advanced %v over a 20 ms sleep", e1-e0)
	}
	if d := o1.Sub(o0); d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("origin moved %v without a step", d)
	}
}

// Elapsed reads CLOCK_BOOTTIME (a syscall) only when the wall clock's lead
// over the monotonic clock moved, as a resume from suspend moves it; in
// between it adds the time asleep it last read to the monotonic clock.
func TestSystemClockBootOffset(t *testing.T) {
	c := NewSystemClock()
	if !c.boot {
		t.Skip("no CLOCK_BOOTTIME here")
	}
	// An offset of an hour recorded at the current lead: kept, no reading.
	c.asleep.Store(&bootOffset{lead: c.asleep.Load().lead, asleep: time.Hour})
	if e := c.Elapsed(); e < time.Hour || e > time.Hour+time.Second {
		t.Fatalf("Elapsed %v with a stored offset of 1h and an unmoved lead: the offset was not used", e)
	}
	// The lead moved (as by a resume after an hour asleep): the boot clock
	// is read again and says how much really passed.
	c.asleep.Store(&bootOffset{lead: -time.Hour, asleep: time.Hour})
	if e := c.Elapsed(); e > time.Second {
		t.Fatalf("Elapsed %v after the lead moved: CLOCK_BOOTTIME was not read again", e)
	}
	if off := c.asleep.Load(); off.asleep > time.Second || off.lead < -bootSlack || off.lead > bootSlack {
		t.Fatalf("offset after the reading: %+v", *off)
	}
}

// Reading the shared clock (every message, through the recorder's fsync
// schedule) allocates nothing while the wall clock does not step, also
// with segments tracked for their true starts.
func TestClockStepsReadNoAlloc(t *testing.T) {
	fc, e := stepClock()
	cs := NewClockSteps(fc)
	cs.track(filepath.Join(t.TempDir(), "2025-03-04_05-06-07.flv"), clockBase, 0, nil)
	if n := testing.AllocsPerRun(1000, func() { *e += time.Millisecond; cs.Elapsed(); cs.Now() }); n != 0 {
		t.Errorf("%v allocations per clock reading", n)
	}
}

// A closed segment renamed after a step: Follow (what a queued hook runs
// with) gives its new path and true start; one not renamed is unchanged.
func TestFollowRenamedSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fc, e := stepClock()
	cs := NewClockSteps(fc)
	namer := &segNamer{cfg: Config{Dir: dir, PathTemplate: DefaultPathTemplate, Format: FormatFLV}, app: "live", stream: "cam1"}
	old := filepath.Join(dir, filepath.FromSlash(expandTemplate(DefaultPathTemplate, "live", "cam1", clockBase))) + ".flv"
	os.MkdirAll(filepath.Dir(old), 0o755)
	os.WriteFile(old, []byte("x"), 0o644)
	cs.track(old, clockBase, 0, namer).reported.Store(true)
	other := Segment{Path: filepath.Join(dir, "elsewhere.flv"), Start: clockBase}
	var told []string // what SetOnRename's callback (a hook's rename event) was told
	cs.SetOnRename(func(from string, s Segment) {
		told = append(told, from, s.Path, s.App, s.Stream, s.Format, strconv.FormatInt(s.Bytes, 10))
	})
	*e = time.Minute
	fc.Step(-24 * time.Hour)
	cs.Now()
	want := filepath.Join(dir, filepath.FromSlash(expandTemplate(DefaultPathTemplate, "live", "cam1", clockBase.Add(-24*time.Hour)))) + ".flv"
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("not renamed to its true start: %v", err)
	}
	if w := []string{old, want, "live", "cam1", FormatFLV, "1"}; !slices.Equal(told, w) {
		t.Errorf("rename told %q, want %q", told, w)
	}
	got := cs.Follow(Segment{Path: old, Start: clockBase})
	if got.Path != want || !got.Start.Equal(clockBase.Add(-24*time.Hour)) {
		t.Errorf("Follow: %s %v, want %s %v", got.Path, got.Start, want, clockBase.Add(-24*time.Hour))
	}
	if got := cs.Follow(other); got != other {
		t.Errorf("Follow of a segment not renamed: %+v", got)
	}
	if _, err := os.Stat(startSidecar(want)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sidecar beside a renamed segment: %v", err)
	}
}
