package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeProbe stands for reading files: it counts the reads per path,
// answers a set duration, and moves a fake clock on by cost per read.
type fakeProbe struct {
	mu    sync.Mutex
	clock time.Time
	cost  time.Duration
	dur   time.Duration
	err   error
	reads map[string]int
}

func newFakeProbe(cost time.Duration) *fakeProbe {
	return &fakeProbe{clock: time.Unix(1e9, 0), cost: cost, dur: 7 * time.Second, reads: map[string]int{}}
}

func (f *fakeProbe) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fakeProbe) probe(path string, size int64, deadline time.Time) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[path]++
	f.clock = f.clock.Add(f.cost)
	if f.err != nil {
		return 0, f.err
	}
	if f.clock.After(deadline) {
		return 0, errProbeTime
	}
	return f.dur, nil
}

func (f *fakeProbe) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[path]
}

// fakeIndex is an Index over dir whose file reads are fp's.
func fakeIndex(dir string, fp *fakeProbe) *Index {
	x := NewIndex(dir, nil)
	x.facts.probe, x.facts.now = fp.probe, fp.now
	return x
}

// listed lists dir's stream live/cam1 and fills the durations.
func listed(t *testing.T, x *Index) map[string]time.Duration {
	t.Helper()
	segs, err := x.All(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	x.FillDurations(segs, DurationBudget)
	out := map[string]time.Duration{}
	for _, s := range segs {
		out[filepath.Base(s.Path)] = s.Duration
	}
	return out
}

// A duration is read once while the file keeps its size and modification
// time; a change in either makes the next listing read it again.
func TestIndexDurationCache(t *testing.T) {
	const name = "2026-01-01_10-00-00.flv"
	for _, tc := range []struct {
		name   string
		change func(p string, info os.FileInfo)
		reads  int // after the change and a listing
	}{
		{"unchanged: cached", func(string, os.FileInfo) {}, 1},
		{"same size, other mtime", func(p string, info os.FileInfo) {
			m := info.ModTime().Add(time.Minute)
			os.Chtimes(p, m, m)
		}, 2},
		{"other size, same mtime", func(p string, info os.FileInfo) {
			os.WriteFile(p, []byte("FLV-longer"), 0o644)
			os.Chtimes(p, info.ModTime(), info.ModTime())
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := indexTree(t, map[string][]byte{"live/cam1/" + name: []byte("FLV")})
			p := filepath.Join(dir, "live", "cam1", name)
			fp := newFakeProbe(time.Millisecond)
			x := fakeIndex(dir, fp)
			if got := listed(t, x)[name]; got != fp.dur {
				t.Fatalf("first listing: %v, want %v", got, fp.dur)
			}
			info, _ := os.Stat(p)
			tc.change(p, info)
			if got := listed(t, x)[name]; got != fp.dur {
				t.Errorf("second listing: %v, want %v", got, fp.dur)
			}
			if n := fp.count(p); n != tc.reads {
				t.Errorf("file read %d times, want %d", n, tc.reads)
			}
		})
	}
}

// What cannot be read is remembered as having no duration (until the file
// changes); a file gone or unreadable is not remembered at all.
func TestIndexDurationFailures(t *testing.T) {
	const name = "2026-01-01_10-00-00.flv"
	for _, tc := range []struct {
		name  string
		err   error
		reads int // after two listings
	}{
		{"corrupt: remembered", fmt.Errorf("flv: bad tag"), 1},
		{"gone: asked again", os.ErrNotExist, 2},
		{"not ours: asked again", os.ErrPermission, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := indexTree(t, map[string][]byte{"live/cam1/" + name: []byte("FLV")})
			fp := newFakeProbe(time.Millisecond)
			fp.err = tc.err
			x := fakeIndex(dir, fp)
			for range 2 {
				if d := listed(t, x)[name]; d != 0 {
					t.Errorf("duration %v, want none", d)
				}
			}
			if n := fp.count(filepath.Join(dir, "live", "cam1", name)); n != tc.reads {
				t.Errorf("read %d times, want %d", n, tc.reads)
			}
		})
	}
}

// One listing reads files for at most DurationBudget, newest first; the
// others are read by the next listings.
func TestIndexDurationBudget(t *testing.T) {
	files := map[string][]byte{}
	var names []string
	for i := range 5 {
		n := fmt.Sprintf("2026-01-01_10-0%d-00.flv", i)
		names = append(names, n)
		files["live/cam1/"+n] = []byte("FLV")
	}
	dir := indexTree(t, files)
	fp := newFakeProbe(900 * time.Millisecond) // a slow card: 0.9 s a file
	x := fakeIndex(dir, fp)
	known := func(m map[string]time.Duration) []string {
		var out []string
		for _, n := range names {
			if m[n] > 0 {
				out = append(out, n[14:16]) // the minute
			}
		}
		return out
	}
	for i, want := range [][]string{
		{"03", "04"},                   // 0.9 + 0.9 s, the third would start at 1.8 s and end past 2 s
		{"01", "02", "03", "04"},       // the next two, the first two from the cache
		{"00", "01", "02", "03", "04"}, // the last one
	} {
		got := known(listed(t, x))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("listing %d: durations known for minutes %v, want %v", i+1, got, want)
		}
	}
	// The third read of the first listing ran out of time after less than
	// durationGiveUp: not remembered as "no duration", and read again.
	if n := fp.count(filepath.Join(dir, "live", "cam1", names[2])); n != 2 {
		t.Errorf("the file cut by the first budget was read %d times, want 2", n)
	}

	// A file that alone takes longer than durationGiveUp is remembered as
	// having no duration: not read on every listing.
	dir = indexTree(t, map[string][]byte{"live/cam1/" + names[0]: []byte("FLV")})
	fp = newFakeProbe(3 * time.Second)
	x = fakeIndex(dir, fp)
	for range 3 {
		if d := listed(t, x)[names[0]]; d != 0 {
			t.Errorf("a file too slow to read has duration %v", d)
		}
	}
	if n := fp.count(filepath.Join(dir, "live", "cam1", names[0])); n != 1 {
		t.Errorf("a file too slow to read was read %d times, want 1", n)
	}
}

// The cache is bounded: when full, an eighth of it makes room; a file
// already known changes its entry in place.
func TestFactCacheEviction(t *testing.T) {
	c := newFactCache()
	c.max = 16
	mtime := time.Unix(1e9, 0)
	for i := range 16 {
		c.set(fmt.Sprintf("f%d", i), 1, mtime, func(e *factEntry) { e.format = FormatMP4 })
	}
	if c.len() != 16 {
		t.Fatalf("%d entries, want 16", c.len())
	}
	c.set("f3", 2, mtime, func(e *factEntry) { e.format = FormatFMP4 }) // known: no eviction
	if c.len() != 16 {
		t.Errorf("updating a known file evicted: %d entries", c.len())
	}
	if _, ok := c.get("f3", 1, mtime); ok {
		t.Error("the entry of a file that changed size still answers for the old size")
	}
	c.set("new", 1, mtime, func(e *factEntry) { e.format = FormatFLV })
	if n := c.len(); n != 16-2+1 {
		t.Errorf("%d entries after an insert into a full cache, want %d", n, 16-2+1)
	}
	if e, ok := c.get("new", 1, mtime); !ok || e.format != FormatFLV {
		t.Errorf("the new entry is missing: %+v %v", e, ok)
	}
}

// A listing of the whole directory forgets the files no longer there.
func TestIndexForgetsRemovedFiles(t *testing.T) {
	dir := indexTree(t, map[string][]byte{
		"live/cam1/2026-01-01_10-00-00.flv": []byte("FLV"),
		"live/cam1/2026-01-01_10-01-00.flv": []byte("FLV"),
	})
	fp := newFakeProbe(time.Millisecond)
	x := fakeIndex(dir, fp)
	listed(t, x)
	if n := x.facts.len(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	os.Remove(filepath.Join(dir, "live", "cam1", "2026-01-01_10-00-00.flv"))
	listed(t, x)
	if n := x.facts.len(); n != 1 {
		t.Errorf("%d entries after a file was removed, want 1", n)
	}
}
