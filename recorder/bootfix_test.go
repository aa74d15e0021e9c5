package recorder

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bootFake is a fakeClock that knows its boot: this run started at since
// after boot_id id, and the kernel says synced or not.
type bootFake struct {
	*fakeClock
	id     string
	since  time.Duration
	synced bool
}

func (c *bootFake) Boot() (BootInfo, bool) {
	return BootInfo{ID: c.id, Since: c.since + c.Elapsed(), Synced: c.synced}, true
}

// recordRun records the 6 s test media into dir as one run of tapedeck
// with wall clock base and the given boot (steady clock following the
// media), in 2 s segments, each file's modification time set by the run's
// clock at its close, as the file system would. It returns the run's
// clock and its segments by start.
func recordRun(t *testing.T, dir string, base time.Time, id string, since time.Duration, synced bool, done func(Segment)) (*ClockSteps, []Segment) {
	t.Helper()
	var ms atomic.Int64
	cs := NewClockSteps(&bootFake{fakeClock: mediaClock(base, &ms, 1), id: id, since: since, synced: synced})
	cs.Logger = testLogger(t)
	var mu sync.Mutex
	var segs []Segment
	cfg := Config{Dir: dir, Format: FormatFLV, Clock: cs, SegmentDuration: 2 * time.Second, Stats: new(Stats), Logger: testLogger(t), Journal: NewBootJournal(dir),
		OnSegmentDone: func(s Segment) {
			os.Chtimes(s.Path, cs.Now(), cs.Now())
			if done != nil {
				done(s)
			}
			mu.Lock()
			segs = append(segs, s)
			mu.Unlock()
		},
	}
	src := newSource(messages(readFLV(t, mediaFile(t, "av"))))
	src.clock = &ms
	if err := Record(context.Background(), src, "live", "cam1", cfg); !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	if len(segs) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(segs))
	}
	return cs, segs
}

// files lists the files under dir (recordings, sidecars, journals).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// A Pi records with its clock a year behind (not synchronised), tapedeck
// is restarted in the same boot after NTP corrected the clock: the next
// start renames the earlier run's segments to their true start, moves
// their modification times with them (retention deletes nothing), the
// journal forgets them, and a hook told of them gets a rename event.
func TestReconcileBootSameBoot(t *testing.T) {
	t.Parallel()
	needTools(t)
	const year = 365 * 24 * time.Hour
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "hook.txt")
	hook := func() *Hook {
		return &Hook{Command: []string{"sh", "-c", `echo "$TAPEDECK_EVENT|$TAPEDECK_OLD_PATH|$TAPEDECK_SEGMENT_PATH|{old_path}" >> "$0"`, out}, Logger: testLogger(t)}
	}
	// Run 1: boot b1, 10 min after boot, clock a year behind the truth
	// (clockBase at 10 min after boot).
	h1 := hook()
	_, first := recordRun(t, dir, clockBase.Add(-year), "b1", 10*time.Minute, false, h1.Run)
	h1.Close(context.Background())
	if _, err := os.Stat(filepath.Join(dir, BootJournalName)); err != nil {
		t.Fatalf("no boot journal after a run on an unsynchronised clock: %v", err)
	}
	// Run 2, one minute later in the same boot, clock corrected.
	gap := 6*time.Second + time.Minute
	var ms atomic.Int64
	cs2 := NewClockSteps(&bootFake{fakeClock: mediaClock(clockBase.Add(gap), &ms, 1), id: "b1", since: 10*time.Minute + gap, synced: true})
	fixes, err := ReconcileBoot(dir, BootOptions{Clock: cs2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != len(first) {
		t.Fatalf("%d segments renamed, want %d: %+v", len(fixes), len(first), fixes)
	}
	h2 := hook()
	for _, f := range fixes {
		s := f.Segment
		s.RenamedFrom = f.Old
		h2.Run(s)
	}
	h2.Close(context.Background())
	if again, err := ReconcileBoot(dir, BootOptions{Clock: cs2}); err != nil || len(again) != 0 {
		t.Errorf("second reconcile: %v, %v; want nothing", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, BootJournalName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal kept after every name was checked on a synchronised clock: %v", err)
	}
	_, second := recordRun(t, dir, clockBase.Add(gap), "b1", 10*time.Minute+gap, true, nil)

	// Every name is its true start within 1 s, in recording order; no
	// sidecar, no journal (the second run was synchronised).
	want := []time.Time{}
	for i := range first {
		want = append(want, clockBase.Add(first[i].Start.Sub(first[0].Start)))
	}
	for i := range second {
		want = append(want, clockBase.Add(gap+second[i].Start.Sub(second[0].Start)))
	}
	names := files(t, dir)
	if len(names) != len(want) {
		t.Fatalf("files on disk: %v, want %d segments and nothing else", names, len(want))
	}
	for i, p := range names {
		n, _ := ParseSegmentName(p)
		if d := n.Start.Sub(want[i]); d < -time.Second || d > time.Second {
			t.Errorf("file #%d %s: its name says %v, its true start is %v", i, filepath.Base(p), n.Start, want[i])
		}
		if i < len(first) {
			info, _ := os.Stat(p)
			if d := info.ModTime().Sub(want[i]); d < 0 || d > 3*time.Second {
				t.Errorf("file #%d modified %v, recorded from %v: the step is not moved", i, info.ModTime(), want[i])
			}
		}
	}
	// Retention by age (1 h) after the restart: the year's jump deletes
	// nothing.
	deleted, _, err := Sweep(dir, Policy{MaxAge: time.Hour, Clock: cs2}, nil, cs2.Now(), nil)
	if err != nil || len(deleted) != 0 {
		t.Errorf("retention after the restart deleted %v (%v)", deleted, err)
	}
	// The hook: one close per segment in run 1 (old names), then one
	// rename event per renamed segment, old and new path.
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	renames := map[string]string{}
	closes := 0
	for _, l := range lines {
		f := strings.Split(l, "|")
		switch {
		case len(f) == 4 && f[0] == "close" && f[1] == "" && f[3] == "":
			closes++
		case len(f) == 4 && f[0] == "rename" && f[1] == f[3]:
			renames[f[1]] = f[2]
		default:
			t.Errorf("hook line %q", l)
		}
	}
	if closes != len(first) || len(renames) != len(first) {
		t.Fatalf("hook ran %d closes and %d renames, want %d each:\n%s", closes, len(renames), len(first), b)
	}
	for i, s := range first {
		if np, ok := renames[s.Path]; !ok || np != names[i] {
			t.Errorf("rename event for %s: %q, want %s", s.Path, np, names[i])
		}
	}
}

// The restart is in another boot: nothing can say when the earlier run's
// segments were recorded. They keep their names, are marked unverified
// (index, Lookup), retention does not delete them at once by the clock's
// correction nor keeps them forever, and a second start changes nothing.
func TestReconcileBootOtherBoot(t *testing.T) {
	t.Parallel()
	needTools(t)
	dir := t.TempDir()
	old := time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC) // a Pi's boot without fake-hwclock
	_, first := recordRun(t, dir, old, "b1", time.Minute, false, nil)
	var ms atomic.Int64
	now := time.Now().Round(0)
	cs2 := NewClockSteps(&bootFake{fakeClock: mediaClock(now, &ms, 1), id: "b2", since: time.Minute, synced: true})
	fixes, err := ReconcileBoot(dir, BootOptions{Clock: cs2, Logger: testLogger(t)})
	if err != nil || len(fixes) != len(first) {
		t.Fatalf("%d segments marked (%v), want %d", len(fixes), err, len(first))
	}
	for i, f := range fixes {
		if !f.Unverified || f.Segment.Path != first[i].Path {
			t.Errorf("fix %+v, want %s marked unverified", f, first[i].Path)
		}
	}
	if again, err := ReconcileBoot(dir, BootOptions{Clock: cs2}); err != nil || len(again) != 0 {
		t.Errorf("second reconcile: %v, %v; want nothing", again, err)
	}
	segs, err := ListDir(filepath.Dir(first[0].Path))
	if err != nil || len(segs) != len(first) {
		t.Fatalf("listed %d (%v), want %d", len(segs), err, len(first))
	}
	for i, s := range segs {
		if s.Path != first[i].Path || !s.TimeUnverified || s.StartCorrected || s.Start.Sub(first[i].Start).Abs() >= time.Second {
			t.Errorf("listed %s start %v unverified %v corrected %v; want %s as named, unverified", s.Path, s.Start, s.TimeUnverified, s.StartCorrected, first[i].Path)
		}
	}
	x := NewIndex(dir, nil)
	rel, _ := x.RelPath(first[0].Path)
	if s, err := x.Lookup(rel); err != nil || !s.TimeUnverified {
		t.Errorf("Lookup: unverified %v, %v", s.TimeUnverified, err)
	}
	// Modified in 1970 by the clock that named them: aged from when they
	// were marked instead.
	deleted, _, err := Sweep(dir, Policy{MaxAge: time.Hour}, nil, now, nil)
	if err != nil || len(deleted) != 0 {
		t.Errorf("retention right after the correction deleted %v (%v)", deleted, err)
	}
	deleted, _, err = Sweep(dir, Policy{MaxAge: time.Hour}, nil, now.Add(2*time.Hour), nil)
	if err != nil || len(deleted) != len(first) {
		t.Errorf("retention 2 h later deleted %v (%v), want all %d", deleted, err, len(first))
	}
	if left := files(t, dir); len(left) != 0 {
		t.Errorf("left on disk: %v", left)
	}
}

// Renamed runs the hook again, with a rename event, only for a segment it
// already ran for; one still queued is left to Follow.
func TestHookRenamedEvent(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "hook.txt")
	h := &Hook{Command: []string{"sh", "-c", `echo "$TAPEDECK_EVENT $TAPEDECK_OLD_PATH $TAPEDECK_SEGMENT_PATH" >> "$0"`, out}, Concurrency: 1, Logger: testLogger(t)}
	h.Run(Segment{Path: "/r/a.flv", App: "live", Stream: "cam1", Bytes: 1})
	for h.Runs.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	h.Renamed("/r/a.flv", Segment{Path: "/r/b.flv", App: "live", Stream: "cam1", Bytes: 1})
	h.Renamed("/r/never.flv", Segment{Path: "/r/c.flv", App: "live", Stream: "cam1", Bytes: 1})
	h.Renamed("/r/a.flv", Segment{Path: "/r/d.flv", App: "live", Stream: "cam1", Bytes: 1}) // told already
	for h.Runs.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	h.Renamed("/r/b.flv", Segment{Path: "/r/e.flv", App: "live", Stream: "cam1", Bytes: 1}) // renamed again
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got, want := string(b), "close  /r/a.flv\nrename /r/a.flv /r/b.flv\nrename /r/b.flv /r/e.flv\n"; got != want {
		t.Errorf("hook ran:\n%s\nwant:\n%s", got, want)
	}
}
