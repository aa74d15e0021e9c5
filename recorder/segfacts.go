package recorder

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// What the index learns by opening a file (its format, its duration) is
// remembered by path while the file's size and modification time stay the
// same, so a listing does not reopen thousands of files. Durations of
// segments closed in this run come from the recorder (Index.Closed);
// the others (made before a restart, or put under the directory by hand)
// are read from the files by remux's readers, within a time budget per
// listing.
const (
	// maxFactEntries bounds the cache (about 150 B an entry).
	maxFactEntries = 16384
	// DurationBudget bounds the time one listing spends reading files for
	// their durations; files left over get theirs in a later listing.
	DurationBudget = 2 * time.Second
	// durationGiveUp: a file that takes longer than this to read (it had
	// at least this long and ran out) is remembered as having no
	// duration, until it changes.
	durationGiveUp = time.Second
)

// errProbeTime ends a read of a file that took too long.
var errProbeTime = errors.New("recorder: duration probe out of time")

// factCache remembers per file, by path, size and mtime, its format and
// duration.
type factCache struct {
	// probe reads a file's duration from its first size bytes, giving up
	// with errProbeTime at deadline. probeDuration unless a test counts
	// the files opened.
	probe func(path string, size int64, deadline time.Time) (time.Duration, error)
	// now is the clock of the read budget; time.Now unless a test's.
	now func() time.Time
	max int // maxFactEntries unless a test's

	mu      sync.Mutex
	entries map[string]*factEntry

	probeMu sync.Mutex // one file read at a time: bounds the memory an MP4 index takes
}

type factEntry struct {
	size   int64
	mtime  int64  // UnixNano
	format string // "" until looked at
	dur    time.Duration
	durSet bool // dur is known; 0 then means none (unreadable, corrupt, too slow)
	closed bool // the recorder reported the file closed in this run
}

func newFactCache() *factCache {
	return &factCache{probe: probeDuration, now: time.Now, max: maxFactEntries, entries: make(map[string]*factEntry)}
}

// get returns a copy of path's entry if it is for this size and mtime.
func (c *factCache) get(path string, size int64, mtime time.Time) (factEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if !ok || e.size != size || e.mtime != mtime.UnixNano() {
		return factEntry{}, false
	}
	return *e, true
}

// set applies fn to path's entry for this size and mtime, starting a
// fresh one when the file changed or was not known.
func (c *factCache) set(path string, size int64, mtime time.Time, fn func(*factEntry)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if !ok && len(c.entries) >= c.max {
		// Full (more files than entries, or several storage dirs): make
		// room for an eighth, any of them; they are read again if listed.
		n := max(c.max/8, 1)
		for k := range c.entries {
			delete(c.entries, k)
			if n--; n == 0 {
				break
			}
		}
	}
	if !ok || e.size != size || e.mtime != mtime.UnixNano() {
		e = &factEntry{size: size, mtime: mtime.UnixNano()}
		c.entries[path] = e
	}
	fn(e)
}

// format returns the format of the file at path, looked at once per size
// and mtime.
func (c *factCache) format(path, ext string, size int64, mtime time.Time) string {
	if ext == extFLV {
		return FormatFLV // nothing to look at
	}
	if e, ok := c.get(path, size, mtime); ok && e.format != "" {
		return e.format
	}
	f := fileFormat(path, ext, size)
	c.set(path, size, mtime, func(e *factEntry) { e.format = f })
	return f
}

// closedKnown reports whether the recorder reported path closed at this
// size and mtime.
func (c *factCache) closedKnown(path string, size int64, mtime time.Time) bool {
	e, ok := c.get(path, size, mtime)
	return ok && e.closed
}

// duration returns path's duration, from the cache or by reading the file
// if deadline allows; ok is false when it is not known (yet).
func (c *factCache) duration(path string, size int64, mtime time.Time, deadline time.Time) (time.Duration, bool) {
	if e, ok := c.get(path, size, mtime); ok && e.durSet {
		return e.dur, e.dur > 0
	}
	if !c.now().Before(deadline) {
		return 0, false
	}
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if e, ok := c.get(path, size, mtime); ok && e.durSet { // read by another listing meanwhile
		return e.dur, e.dur > 0
	}
	start := c.now()
	if !start.Before(deadline) {
		return 0, false
	}
	d, err := c.probe(path, size, deadline)
	switch {
	case errors.Is(err, errProbeTime) && deadline.Sub(start) < durationGiveUp:
		return 0, false // the listing ran out of time: try again next time
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		return 0, false // gone, or not ours to read: nothing to remember
	case err != nil:
		d = 0 // corrupt, truncated, or too slow: remembered as unknown
	}
	c.set(path, size, mtime, func(e *factEntry) { e.dur, e.durSet = d, true })
	return d, d > 0
}

// forgetMissing drops the entries under root (a directory the caller has
// just walked whole) for files not in seen: deleted or renamed.
func (c *factCache) forgetMissing(root string, seen map[string]struct{}) {
	prefix := filepath.Clean(root)
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	dot := prefix == "."+string(filepath.Separator) // paths walked from "." have no "./"
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if _, ok := seen[k]; !ok && (strings.HasPrefix(k, prefix) || dot && !filepath.IsAbs(k)) {
			delete(c.entries, k)
		}
	}
}

// len is the number of entries (tests).
func (c *factCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// probePool recycles the few messages (sequence headers) a probe reads.
var probePool = remux.NewPool()

// probeDuration opens a recording with remux's reader for its extension
// (as playback does) and returns Info().Duration. Every read after
// deadline fails with errProbeTime, and so does the probe even when the
// reader took the failed read for the end of the file.
func probeDuration(path string, size int64, deadline time.Time) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := &deadlineReader{f: f, deadline: deadline}
	rd, err := remux.OpenFile(r, size, path, probePool)
	if err != nil { // the openers hold nothing when they fail
		if r.late {
			err = errProbeTime
		}
		return 0, err
	}
	d := time.Duration(rd.Info().Duration) * time.Millisecond
	rd.Close()
	if r.late { // an index cut short by the deadline
		return 0, errProbeTime
	}
	return d, nil
}

// deadlineReader fails every read after deadline.
type deadlineReader struct {
	f        *os.File
	deadline time.Time
	late     bool
}

func (r *deadlineReader) ReadAt(p []byte, off int64) (int, error) {
	if r.late || !time.Now().Before(r.deadline) {
		r.late = true
		return 0, errProbeTime
	}
	return r.f.ReadAt(p, off)
}
