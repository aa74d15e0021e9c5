package appliance

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

// Durations of recordings not closed in this run (made before a restart,
// or put under storage.dir by hand) are read from the files themselves by
// remux's readers, and remembered by path while the file's size and
// modification time stay the same, so a listing does not reopen them.
const (
	// maxDurationEntries bounds the cache (about 150 B an entry).
	maxDurationEntries = 16384
	// durationBudget bounds the time one listing spends reading files;
	// files left over get their duration in a later listing.
	durationBudget = 2 * time.Second
	// durationGiveUp: a file that takes longer than this to index (it had
	// at least this long and ran out) is remembered as having no duration,
	// until it changes.
	durationGiveUp = time.Second
)

// errProbeTime ends a read of a file that took too long.
var errProbeTime = errors.New("duration probe out of time")

// durationCache remembers file durations by path, size and mtime.
type durationCache struct {
	// probe reads a file's duration, reading its first size bytes, giving
	// up with errProbeTime at deadline. probeDuration unless a test
	// counts the files opened.
	probe func(path string, size int64, deadline time.Time) (time.Duration, error)

	mu      sync.Mutex
	entries map[string]durationEntry

	probeMu sync.Mutex // one file read at a time: bounds the memory an MP4 index takes
}

type durationEntry struct {
	size  int64
	mtime int64         // UnixNano
	dur   time.Duration // 0: no duration (unreadable, corrupt, too slow)
}

func newDurationCache() *durationCache {
	return &durationCache{probe: probeDuration, entries: make(map[string]durationEntry)}
}

// cached returns the remembered duration of path at info's size and mtime.
func (c *durationCache) cached(path string, info fs.FileInfo) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if !ok || e.size != info.Size() || e.mtime != info.ModTime().UnixNano() {
		return 0, false
	}
	return e.dur, true
}

func (c *durationCache) store(path string, info fs.FileInfo, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[path]; !ok && len(c.entries) >= maxDurationEntries {
		// Full (more files than entries, or several storage dirs): make
		// room for an eighth, any of them; they are read again if listed.
		n := maxDurationEntries / 8
		for k := range c.entries {
			delete(c.entries, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[path] = durationEntry{size: info.Size(), mtime: info.ModTime().UnixNano(), dur: d}
}

// duration returns path's duration, from the cache or by reading the file
// if deadline allows; ok is false when it is not known (yet).
func (c *durationCache) duration(path string, info fs.FileInfo, deadline time.Time) (time.Duration, bool) {
	if d, ok := c.cached(path, info); ok {
		return d, d > 0
	}
	if !time.Now().Before(deadline) {
		return 0, false
	}
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if d, ok := c.cached(path, info); ok { // read by another listing meanwhile
		return d, d > 0
	}
	start := time.Now()
	if !start.Before(deadline) {
		return 0, false
	}
	d, err := c.probe(path, info.Size(), deadline)
	switch {
	case errors.Is(err, errProbeTime) && deadline.Sub(start) < durationGiveUp:
		return 0, false // the listing ran out of time: try again next time
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		return 0, false // gone, or not ours to read: nothing to remember
	case err != nil:
		d = 0 // corrupt, truncated, or too slow: remembered as unknown
	}
	c.store(path, info, d)
	return d, d > 0
}

// forgetMissing drops the entries under root (a directory the caller has
// just walked whole) for files not in seen: deleted or renamed.
func (c *durationCache) forgetMissing(root string, seen map[string]struct{}) {
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

// probePool recycles the few messages (sequence headers) a probe reads.
var probePool = remux.NewPool()

// probeDuration opens a recording with remux's reader for its extension
// (as vod does) and returns Info().Duration. Every read after deadline
// fails with errProbeTime, and so does the probe even when the reader
// took the failed read for the end of the file.
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
