package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Policy bounds what recordings may occupy. Zero fields are off.
type Policy struct {
	MaxAge   time.Duration // delete segments older (by modification time) than this
	MaxBytes int64         // keep the total under this, oldest first
	MinFree  FreeSpace     // keep at least this much free on the file system, oldest first
	// Clock, when set, corrects the modification times of files written
	// in this run before a step of the wall clock (see ClockSteps.Correct)
	// before ages are compared, so that NTP setting the clock of a box that
	// booted with a wrong one neither deletes every recording (a forward
	// step of a year) nor keeps them all (a backward one). Give Sweep a now
	// read from the same clock. Share it with the recorders (Config.Clock).
	Clock *ClockSteps
	// Keep, when set, names segments that must stay until something else
	// is done with them (not yet uploaded): the age and size rules pass
	// over them, only the free-space floor deletes them, and each such
	// deletion is reported to Lost (which must then be set too).
	Keep func(path string) bool
	Lost func(path string, size int64)
}

// FreeSpace is a free-space floor given as bytes ("2GB") or a percentage ("10%").
// When both fields are set, the larger floor applies.
type FreeSpace struct {
	Bytes   int64
	Percent float64
}

// IsZero reports whether the floor is off.
func (f FreeSpace) IsZero() bool { return f.Bytes <= 0 && f.Percent <= 0 }

// Floor is the free bytes wanted on a file system of total bytes.
func (f FreeSpace) Floor(total uint64) uint64 {
	var floor uint64
	if f.Bytes > 0 {
		floor = uint64(f.Bytes)
	}
	if f.Percent > 0 {
		floor = max(floor, uint64(f.Percent/100*float64(total)))
	}
	return floor
}

// String formats the floor the way ParseFreeSpace reads it.
func (f FreeSpace) String() string {
	if f.Percent > 0 && f.Bytes <= 0 {
		return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
	}
	if f.Bytes <= 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if f.Bytes >= u.n && f.Bytes%u.n == 0 {
			s := strconv.FormatInt(f.Bytes/u.n, 10) + u.name
			if f.Percent > 0 {
				s += " or " + strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
			}
			return s
		}
	}
	return strconv.FormatInt(f.Bytes, 10)
}

// UnmarshalText parses the text with ParseFreeSpace (for config decoders).
func (f *FreeSpace) UnmarshalText(b []byte) error {
	v, err := ParseFreeSpace(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

var sizeUnits = []struct {
	name string
	n    int64
}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}}

// ParseFreeSpace reads a free-space floor: a size ("2GB", "512MB", "1.5G",
// "4096"; units B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, case-insensitive,
// all powers of 1024) or a percentage of the file system below 100 ("10%",
// "2.5%"). "0", "0%" and "" mean off.
func ParseFreeSpace(s string) (FreeSpace, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return FreeSpace{}, nil
	}
	bad := func(why string) (FreeSpace, error) {
		return FreeSpace{}, fmt.Errorf("free space %q: %s (want a size like 2GB or 512MB, or a percentage like 10%%)", s, why)
	}
	num, unit := t, ""
	if i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if num == "" {
		return bad("no number")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return bad("not a number")
	}
	if unit == "%" {
		if v >= 100 {
			return bad("a percentage must be below 100")
		}
		return FreeSpace{Percent: v}, nil
	}
	var mult float64
	switch strings.ToUpper(unit) {
	case "", "B":
		mult = 1
	case "K", "KB", "KIB":
		mult = 1 << 10
	case "M", "MB", "MIB":
		mult = 1 << 20
	case "G", "GB", "GIB":
		mult = 1 << 30
	case "T", "TB", "TIB":
		mult = 1 << 40
	default:
		return bad(fmt.Sprintf("unknown unit %q", unit))
	}
	n := v * mult
	if n >= math.MaxInt64 {
		return bad("too large")
	}
	if unit == "" && n != math.Trunc(n) {
		return bad("a byte count must be whole")
	}
	return FreeSpace{Bytes: int64(n)}, nil
}

// DiskUsage reports available and total bytes of the file system holding dir.
type DiskUsage func(dir string) (avail, total uint64, err error)

// isRecording reports whether path is a segment file Sweep may delete.
func isRecording(path string) bool { return IsSegmentFile(path) }

type recording struct {
	path    string
	size    int64
	mod     time.Time
	thisRun bool // modified during this run (Policy.Clock knows)
}

// Sweep applies p to the recordings (.mp4, .flv) under dir (recursively),
// deleting oldest first; files for which inUse(path) is true are never
// deleted, nor are non-recording files. It removes directories left empty
// (but never dir itself). Returns the deleted paths and their total bytes.
//
// Oldest means oldest modification time (corrected by p.Clock; with it,
// files of earlier runs go before the files of this run). One pass, oldest first, deletes a
// file when any rule wants it: older than MaxAge; the total of all
// recordings (files in use included: they occupy space too) above
// MaxBytes; or the free-space floor not yet reached. For the floor, usage
// is asked once, before deleting, how far below the floor the file system
// is; files are then deleted until their sizes add up to that (deletions
// for the other rules count too). usage nil means StatfsUsage; a failing
// usage turns the floor off for this sweep and is returned in err.
//
// Paths are filepath.Join(dir, ...) of the entries found: give Sweep the
// Config.Dir the recorders use, so that inUse sees the same paths as
// OnSegmentOpen reported (see OpenSegments). Symbolic links below dir are
// not followed nor deleted (dir itself may be one). Directories are
// removed when this sweep emptied them, or when they were empty already
// and unchanged for emptyDirAge: what a stream that recorded nothing, a
// deletion through the API or an earlier version left. A directory being
// recorded into holds its open segment; one a recorder made a moment ago
// is younger than emptyDirAge (and createSegmentFile makes it again if it
// goes between its MkdirAll and its create).
//
// err joins every problem met (unreadable directories, failed deletions);
// the sweep goes on past them, and deleted/freed report what was done.
func Sweep(dir string, p Policy, inUse func(string) bool, now time.Time, usage DiskUsage) (deleted []string, freed int64, err error) {
	var errs []error
	var files []recording
	emptied := map[string]bool{}
	stale := func(path string, d fs.DirEntry) {
		if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > emptyDirAge {
			emptied[path] = true
		}
	}
	sidecars := map[string]bool{}
	if werr := walkTree(dir, func(path string, d fs.DirEntry) {
		if isStartSidecar(path) {
			sidecars[strings.TrimSuffix(path, StartSidecarSuffix)] = true
			return
		}
		if !isRecording(path) {
			return
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		r := recording{path: path, size: info.Size(), mod: info.ModTime()}
		if p.Clock != nil {
			r.mod, r.thisRun = p.Clock.correct(r.mod)
			// Renamed after a step: its time is moved to the corrected
			// clock already (clockfix.go).
			r.thisRun = r.thisRun || p.Clock.renamedThisRun(path)
		}
		files = append(files, r)
	}, stale, &errs); werr != nil {
		return nil, 0, werr
	}
	files = applyStartShift(files, sidecars, emptied)
	sort.Slice(files, func(i, j int) bool {
		// Whatever the clocks said, a file of an earlier run is older
		// than one written in this run: a box that booted in 1970 must
		// not free space by deleting what it recorded since.
		if files[i].thisRun != files[j].thisRun {
			return files[j].thisRun
		}
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.Before(files[j].mod)
		}
		return files[i].path < files[j].path
	})

	var need int64 // bytes to free for the floor
	if !p.MinFree.IsZero() {
		if usage == nil {
			usage = StatfsUsage
		}
		avail, total, uerr := usage(dir)
		if uerr != nil {
			errs = append(errs, fmt.Errorf("retention: free space of %s: %w", dir, uerr))
		} else if floor := p.MinFree.Floor(total); floor > avail {
			need = int64(min(floor-avail, math.MaxInt64))
		}
	}
	var total int64
	for _, f := range files {
		total += f.size
	}

	for _, f := range files {
		expired := p.MaxAge > 0 && now.Sub(f.mod) > p.MaxAge
		over := p.MaxBytes > 0 && total > p.MaxBytes
		low := freed < need
		if !expired && !over && !low {
			continue
		}
		if inUse != nil && inUse(f.path) {
			continue
		}
		kept := p.Keep != nil && p.Keep(f.path)
		if kept && !low {
			continue
		}
		if err := os.Remove(f.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				total -= f.size // someone else deleted it
				continue
			}
			errs = append(errs, fmt.Errorf("retention: %w", err))
			continue
		}
		// A marker beside it is stale (the file is not being written): it
		// goes with it, as its start sidecar does, or the directory could
		// never be pruned.
		RemoveSidecars(f.path)
		if kept {
			p.Lost(f.path, f.size)
		}
		deleted = append(deleted, f.path)
		freed += f.size
		total -= f.size
		emptied[filepath.Dir(f.path)] = true
	}
	pruneDirs(dir, emptied)
	return deleted, freed, errors.Join(errs...)
}

// applyStartShift ages the recordings of earlier runs that have a start
// sidecar by their true start: their modification time was stamped by the
// clock that named them, wrong by as much as the name (this run's files
// are corrected by Policy.Clock already). So a backward step keeps a file
// no longer than MaxAge after it was really recorded, after a restart
// too. Sidecars whose recording is gone are removed (their directory can
// then be pruned).
func applyStartShift(files []recording, sidecars map[string]bool, emptied map[string]bool) []recording {
	if len(sidecars) == 0 {
		return files
	}
	for i := range files {
		f := &files[i]
		if !sidecars[f.path] {
			continue
		}
		delete(sidecars, f.path)
		if f.thisRun {
			continue
		}
		n, _ := ParseSegmentName(f.path)
		if t, ok := readStartSidecar(f.path); ok && !n.Start.IsZero() {
			f.mod = f.mod.Add(t.Sub(n.Start))
		} else if info, err := os.Stat(startSidecar(f.path)); err == nil && sidecarUnverified(f.path) {
			// Its own times were stamped by a clock nothing verified (a
			// 1970 boot): it was recorded before it was marked, so it is
			// aged from the marking at the latest, never deleted at once
			// by the clock's correction, never kept forever.
			f.mod = maxTime(f.mod, info.ModTime())
		}
	}
	for seg := range sidecars {
		if os.Remove(startSidecar(seg)) == nil {
			emptied[filepath.Dir(seg)] = true
		}
	}
	return files
}

// pruneDirs removes the given directories when empty, and their parents
// that become empty, up to but never including root.
func pruneDirs(root string, dirs map[string]bool) {
	root = filepath.Clean(root)
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	// Deepest first, so nested emptied directories go before their parents.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, d := range list {
		for d = filepath.Clean(d); d != root && below(root, d); d = filepath.Dir(d) {
			if os.Remove(d) != nil { // not empty (or gone): stop climbing
				break
			}
		}
	}
}

// below reports whether p is strictly below root.
func below(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// emptyDirAge is how long an empty directory below the storage dir stays
// before a sweep removes it.
const emptyDirAge = time.Minute

// walkFiles calls fn for every regular file below dir. It does not follow
// symbolic links below dir (dir itself may be one). Unreadable
// directories are added to errs; only an unreadable dir itself is returned.
func walkFiles(dir string, fn func(path string, d fs.DirEntry), errs *[]error) error {
	return walkTree(dir, fn, nil, errs)
}

// walkTree is walkFiles that also calls empty, unless nil, for every
// directory below dir that was empty when read.
func walkTree(dir string, fn, empty func(path string, d fs.DirEntry), errs *[]error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var walk func(string, []fs.DirEntry)
	walk = func(d string, entries []fs.DirEntry) {
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			switch {
			case e.IsDir():
				sub, err := os.ReadDir(p)
				if err != nil {
					if !errors.Is(err, fs.ErrNotExist) {
						*errs = append(*errs, err)
					}
					continue
				}
				if len(sub) == 0 && empty != nil {
					empty(p, e)
				}
				walk(p, sub)
			case e.Type().IsRegular():
				fn(p, e)
			}
		}
	}
	walk(dir, entries)
	return nil
}

// OpenSegments tracks the segment files being written, for Sweep's inUse:
// feed it from Config.OnSegmentOpen (Opened) and Config.OnSegmentDone
// (Done with the segment's Path). Paths are counted, so the order in which
// an Opened and a Done for the same reused name arrive does not matter.
// The zero value is ready; it is safe for concurrent use.
type OpenSegments struct {
	mu sync.Mutex
	n  map[string]int
}

// Opened marks path as being written.
func (o *OpenSegments) Opened(path string) {
	path = filepath.Clean(path)
	o.mu.Lock()
	if o.n == nil {
		o.n = make(map[string]int)
	}
	o.n[path]++
	o.mu.Unlock()
}

// Done marks path as closed.
func (o *OpenSegments) Done(path string) {
	path = filepath.Clean(path)
	o.mu.Lock()
	if o.n == nil {
		o.n = make(map[string]int)
	}
	if o.n[path]--; o.n[path] == 0 {
		delete(o.n, path)
	}
	o.mu.Unlock()
}

// InUse reports whether path is being written. Its method value is what
// Sweep's inUse wants.
func (o *OpenSegments) InUse(path string) bool {
	path = filepath.Clean(path)
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[path] > 0
}

// Len is the number of files being written.
func (o *OpenSegments) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.n {
		if c > 0 {
			n++
		}
	}
	return n
}
