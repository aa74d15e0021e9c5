package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	type file struct {
		name  string // slash-separated, relative to the storage dir
		size  int
		age   time.Duration
		inUse bool
	}
	type usage struct {
		avail, total uint64
		err          error
	}
	// Four 100-byte segments, one per hour of age (oldest first).
	four := []file{
		{"live/cam1/a.mp4", 100, 4 * time.Hour, false},
		{"live/cam1/b.mp4", 100, 3 * time.Hour, false},
		{"live/cam1/c.flv", 100, 2 * time.Hour, false},
		{"live/cam1/d.mp4", 100, 1 * time.Hour, false},
	}
	inUse := func(fs []file, names ...string) []file {
		out := slices.Clone(fs)
		for i := range out {
			if slices.Contains(names, out[i].name) {
				out[i].inUse = true
			}
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		files       []file
		dirs        []string // extra empty directories made before the sweep, just now
		oldDirs     []string // extra empty directories, unchanged for two hours
		policy      Policy
		usage       *usage
		wantDeleted []string // in deletion order (oldest first)
		wantDirs    []string // directories that must be gone after the sweep
		keepDirs    []string // directories that must still exist
		wantErr     bool
	}{
		{name: "no policy", files: four},
		{name: "age", files: four, policy: Policy{MaxAge: 150 * time.Minute},
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}},
		{name: "age spares in-use", files: inUse(four, "live/cam1/a.mp4"), policy: Policy{MaxAge: 150 * time.Minute},
			wantDeleted: []string{"live/cam1/b.mp4"}},
		{name: "bytes", files: four, policy: Policy{MaxBytes: 250},
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}},
		{name: "bytes at the limit", files: four, policy: Policy{MaxBytes: 400}},
		{name: "bytes skip in-use oldest", files: inUse(four, "live/cam1/a.mp4"), policy: Policy{MaxBytes: 250},
			// a (in use) still counts: 400 -> 300 -> 200.
			wantDeleted: []string{"live/cam1/b.mp4", "live/cam1/c.flv"}},
		{name: "bytes: only candidate in use",
			files:  []file{{"live/cam1/big.mp4", 1000, 10 * time.Hour, true}},
			policy: Policy{MaxBytes: 10, MaxAge: time.Hour, MinFree: FreeSpace{Bytes: 1 << 40}},
			usage:  &usage{avail: 1, total: 1000}},
		{name: "free bytes", files: four, policy: Policy{MinFree: FreeSpace{Bytes: 1150}},
			usage:       &usage{avail: 1000, total: 10000}, // 150 short: two files
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}},
		{name: "free percent", files: four, policy: Policy{MinFree: FreeSpace{Percent: 10}},
			usage:       &usage{avail: 900, total: 10000}, // 100 short: one file
			wantDeleted: []string{"live/cam1/a.mp4"}},
		{name: "free larger of both", files: four, policy: Policy{MinFree: FreeSpace{Bytes: 950, Percent: 10}},
			usage:       &usage{avail: 900, total: 10000},
			wantDeleted: []string{"live/cam1/a.mp4"}},
		{name: "free enough", files: four, policy: Policy{MinFree: FreeSpace{Percent: 10}},
			usage: &usage{avail: 5000, total: 10000}},
		{name: "free unreachable deletes all but in-use", files: inUse(four, "live/cam1/d.mp4"),
			policy:      Policy{MinFree: FreeSpace{Bytes: 1 << 30}},
			usage:       &usage{avail: 0, total: 1 << 31},
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4", "live/cam1/c.flv"}},
		{name: "free only candidate in use", files: []file{{"x/y/only.flv", 500, time.Hour, true}},
			policy: Policy{MinFree: FreeSpace{Percent: 50}}, usage: &usage{avail: 0, total: 1000}},
		{name: "age counts toward free", files: four,
			policy:      Policy{MaxAge: 210 * time.Minute, MinFree: FreeSpace{Bytes: 1150}},
			usage:       &usage{avail: 1000, total: 10000}, // age frees a (100), floor wants 50 more: b
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}},
		{name: "usage error: floor off, age applies", files: four,
			policy:      Policy{MaxAge: 210 * time.Minute, MinFree: FreeSpace{Bytes: 1 << 40}},
			usage:       &usage{err: errors.New("statfs: injected")},
			wantDeleted: []string{"live/cam1/a.mp4"}, wantErr: true},
		{name: "non-recording files untouched",
			files: []file{
				{"live/cam1/a.mp4.tmp", 100, 100 * time.Hour, false},
				{"live/cam1/notes.txt", 100, 100 * time.Hour, false},
				{"live/cam1/index.json", 100, 100 * time.Hour, false},
				{"live/cam1/mp4", 100, 100 * time.Hour, false},
				{"live/cam1/old.MP4", 100, 100 * time.Hour, false},
				{"live/cam1/new.flv", 100, time.Minute, false},
			},
			policy:      Policy{MaxAge: time.Hour, MaxBytes: 1, MinFree: FreeSpace{Bytes: 1 << 40}},
			usage:       &usage{avail: 0, total: 1 << 41},
			wantDeleted: []string{"live/cam1/old.MP4", "live/cam1/new.flv"},
			keepDirs:    []string{"live/cam1"}},
		{name: "emptied dirs pruned",
			files: []file{
				{"live/cam1/2025/a.mp4", 100, 5 * time.Hour, false},
				{"live/cam2/b.flv", 100, 4 * time.Hour, false},
				{"other/cam3/c.mp4", 100, 3 * time.Hour, false},
				{"other/cam3/d.mp4", 100, 1 * time.Hour, false},
			},
			dirs:        []string{"live/just-made"},
			policy:      Policy{MaxAge: 2 * time.Hour},
			wantDeleted: []string{"live/cam1/2025/a.mp4", "live/cam2/b.flv", "other/cam3/c.mp4"},
			wantDirs:    []string{"live/cam1/2025", "live/cam1", "live/cam2"},
			keepDirs:    []string{"live", "live/just-made", "other/cam3"}},
		// Names that came and went and left folders with nothing in them
		// (a deletion through the API, a stream that recorded nothing):
		// no rule needs to delete a file for them to go, their parents
		// with them; a folder made a moment ago (a recorder about to
		// create its first segment) stays, as does the storage dir.
		{name: "stale empty dirs pruned", files: four,
			dirs:     []string{"live/starting"},
			oldDirs:  []string{"live/gone1", "live/gone2/2025", "old/app/cam"},
			wantDirs: []string{"live/gone1", "live/gone2/2025", "live/gone2", "old/app/cam", "old/app", "old"},
			keepDirs: []string{".", "live", "live/cam1", "live/starting"}},
		{name: "storage dir itself never removed",
			files:       []file{{"a.mp4", 100, 5 * time.Hour, false}},
			policy:      Policy{MaxAge: time.Hour},
			wantDeleted: []string{"a.mp4"}, keepDirs: []string{"."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			used := map[string]bool{}
			var total int64
			for _, f := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(f.name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, make([]byte, f.size), 0o644); err != nil {
					t.Fatal(err)
				}
				mt := now.Add(-f.age)
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
				if f.inUse {
					used[p] = true
				}
				total += int64(f.size)
			}
			for _, d := range tc.dirs {
				os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755)
			}
			for _, d := range tc.oldDirs {
				p := filepath.Join(dir, filepath.FromSlash(d))
				os.MkdirAll(p, 0o755)
				mt := now.Add(-2 * time.Hour)
				// Parents too: they are as old as the last change in them.
				for q := p; q != dir; q = filepath.Dir(q) {
					os.Chtimes(q, mt, mt)
				}
			}
			calls := 0
			var du DiskUsage
			if tc.usage != nil {
				du = func(d string) (uint64, uint64, error) {
					calls++
					if d != dir {
						t.Errorf("usage asked for %s, want %s", d, dir)
					}
					return tc.usage.avail, tc.usage.total, tc.usage.err
				}
			} else {
				du = func(string) (uint64, uint64, error) {
					calls++
					return 1 << 40, 1 << 41, nil
				}
			}
			var asked []string
			deleted, freed, err := Sweep(dir, tc.policy, func(p string) bool {
				asked = append(asked, p)
				return used[p]
			}, now, du)
			if (err != nil) != tc.wantErr {
				t.Errorf("err %v, want error: %v", err, tc.wantErr)
			}
			var want []string
			var wantFreed int64
			for _, w := range tc.wantDeleted {
				want = append(want, filepath.Join(dir, filepath.FromSlash(w)))
				for _, f := range tc.files {
					if f.name == w {
						wantFreed += int64(f.size)
					}
				}
			}
			if !slices.Equal(deleted, want) {
				t.Errorf("deleted\n %v\nwant\n %v", deleted, want)
			}
			if freed != wantFreed {
				t.Errorf("freed %d, want %d", freed, wantFreed)
			}
			if tc.policy.MinFree.IsZero() && calls != 0 || !tc.policy.MinFree.IsZero() && calls != 1 {
				t.Errorf("usage called %d times", calls)
			}
			for _, f := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(f.name))
				_, err := os.Stat(p)
				gone := errors.Is(err, os.ErrNotExist)
				if gone != slices.Contains(want, p) {
					t.Errorf("%s: exists %v after the sweep", f.name, !gone)
				}
				if f.inUse && gone {
					t.Errorf("%s: in use, deleted", f.name)
				}
			}
			for _, p := range asked {
				if !isRecording(p) || !strings.HasPrefix(p, dir) {
					t.Errorf("inUse asked about %s", p)
				}
			}
			for _, d := range tc.wantDirs {
				if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("directory %s not pruned (%v)", d, err)
				}
			}
			for _, d := range tc.keepDirs {
				if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
					t.Errorf("directory %s gone (%v)", d, err)
				}
			}
		})
	}
}

// Symbolic links below the storage dir are neither followed nor deleted;
// the storage dir itself may be one.
func TestSweepSymlinks(t *testing.T) {
	t.Parallel()
	now := time.Now()
	outside := t.TempDir()
	target := filepath.Join(outside, "keep.mp4")
	os.WriteFile(target, make([]byte, 100), 0o644)
	old := now.Add(-100 * time.Hour)
	os.Chtimes(target, old, old)
	os.MkdirAll(filepath.Join(outside, "sub"), 0o755)
	os.WriteFile(filepath.Join(outside, "sub", "x.flv"), nil, 0o644)
	os.Chtimes(filepath.Join(outside, "sub", "x.flv"), old, old)

	real := t.TempDir()
	if err := os.Symlink(target, filepath.Join(real, "link.mp4")); err != nil {
		t.Skip("no symlinks:", err)
	}
	os.Symlink(filepath.Join(outside, "sub"), filepath.Join(real, "dirlink"))
	seg := filepath.Join(real, "live", "a.mp4")
	os.MkdirAll(filepath.Dir(seg), 0o755)
	os.WriteFile(seg, make([]byte, 10), 0o644)
	os.Chtimes(seg, old, old)
	root := filepath.Join(t.TempDir(), "storage")
	os.Symlink(real, root)

	deleted, _, err := Sweep(root, Policy{MaxAge: time.Hour}, nil, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(root, "live", "a.mp4")}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	for _, p := range []string{target, filepath.Join(outside, "sub", "x.flv"), filepath.Join(real, "link.mp4")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("storage dir: %v", err)
	}
}

func TestParseFreeSpace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    FreeSpace
		wantErr string // substring of the error; "" for none
	}{
		{"2GB", FreeSpace{Bytes: 2 << 30}, ""},
		{"512MB", FreeSpace{Bytes: 512 << 20}, ""},
		{"512 MiB", FreeSpace{Bytes: 512 << 20}, ""},
		{"1.5g", FreeSpace{Bytes: 3 << 29}, ""},
		{"100k", FreeSpace{Bytes: 100 << 10}, ""},
		{"1TB", FreeSpace{Bytes: 1 << 40}, ""},
		{"4096", FreeSpace{Bytes: 4096}, ""},
		{"4096B", FreeSpace{Bytes: 4096}, ""},
		{" 10% ", FreeSpace{Percent: 10}, ""},
		{"2.5%", FreeSpace{Percent: 2.5}, ""},
		{"0", FreeSpace{}, ""},
		{"0%", FreeSpace{}, ""},
		{"", FreeSpace{}, ""},
		{"100%", FreeSpace{}, "below 100"},
		{"150%", FreeSpace{}, "below 100"},
		{"-5%", FreeSpace{}, "no number"},
		{"-1GB", FreeSpace{}, "no number"},
		{"GB", FreeSpace{}, "no number"},
		{"2XB", FreeSpace{}, `unknown unit "XB"`},
		{"2 GB free", FreeSpace{}, "unknown unit"},
		{"1.2.3GB", FreeSpace{}, "not a number"},
		{"1.5", FreeSpace{}, "whole"},
		{"99999999TB", FreeSpace{}, "too large"},
		{"ten percent", FreeSpace{}, "no number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFreeSpace(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("ParseFreeSpace(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
				}
				if err == nil {
					back, err := ParseFreeSpace(got.String())
					if err != nil || back != got {
						t.Errorf("String %q does not parse back: %+v, %v", got.String(), back, err)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseFreeSpace(%q) = %+v, %v; want an error about %q naming the input", tc.in, got, err, tc.wantErr)
			}
		})
	}
	var fs FreeSpace
	if err := fs.UnmarshalText([]byte("10%")); err != nil || fs.Percent != 10 {
		t.Errorf("UnmarshalText: %+v, %v", fs, err)
	}
	if f := (FreeSpace{Percent: 10}).Floor(1000); f != 100 {
		t.Errorf("Floor %d", f)
	}
}

func TestStatfsUsage(t *testing.T) {
	t.Parallel()
	avail, total, err := StatfsUsage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || avail > total {
		t.Errorf("avail %d, total %d", avail, total)
	}
	if _, _, err := StatfsUsage(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing directory")
	}
}

func TestOpenSegments(t *testing.T) {
	t.Parallel()
	var o OpenSegments
	if o.InUse("a") {
		t.Error("zero value says in use")
	}
	o.Opened("/x/./a.mp4")
	o.Opened("/x/a.mp4")
	if !o.InUse("/x/a.mp4") || o.Len() != 1 {
		t.Error("not in use")
	}
	o.Done("/x/a.mp4")
	if !o.InUse("/x/a.mp4") {
		t.Error("counted once")
	}
	o.Done("/x/a.mp4")
	if o.InUse("/x/a.mp4") || o.Len() != 0 {
		t.Error("still in use")
	}
	// Done before Opened (a reused name): balanced in the end.
	o.Done("/x/b.mp4")
	o.Opened("/x/b.mp4")
	if o.InUse("/x/b.mp4") || o.Len() != 0 {
		t.Error("out-of-order pair left b in use")
	}
}

// Sweep may prune a stream's directory, empty for a moment, between the
// recorder's MkdirAll and its create: the create makes it again.
func TestCreateSegmentAfterPrune(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: t.TempDir(), Format: FormatFLV}
	cfg.setDefaults()
	calls := 0
	cfg.openFile = func(p string) (file, error) {
		calls++
		if calls == 1 {
			if err := os.Remove(filepath.Dir(p)); err != nil {
				t.Fatal(err)
			}
		}
		return openFileDefault(p)
	}
	p, f, err := createSegmentFile(&cfg, "live", "cam1", fixedClock().Now())
	if err != nil {
		t.Fatalf("create after the directory was pruned: %v", err)
	}
	f.Close()
	if want := filepath.Join(cfg.Dir, "live", "cam1", "2025-03-04_05-06-07.flv"); p != want || calls != 2 {
		t.Errorf("path %s after %d tries, want %s after 2", p, calls, want)
	}
}
