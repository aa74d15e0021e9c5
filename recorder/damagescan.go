package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// CheckJournalName is the file in the storage directory where the
// DamageScanner remembers which recordings it checked, and what it found:
// one JSON line per file checked, appended (no rewrite of the whole file
// per check: SD cards), compacted when most lines are stale.
const CheckJournalName = ".tapedeck-checked"

// DefaultCheckRate is how many bytes a second the DamageScanner reads at
// most, on average: a Pi's card reads 20-90 MB/s, and recording must keep
// most of it.
const DefaultCheckRate = 4 << 20

// checkEntry is one journal line: the file (relative to the storage
// directory, "/"-separated) as it was when checked, and why it is damaged
// ("" when it is not).
type checkEntry struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	MTime   int64  `json:"mtime"` // UnixNano
	Damaged string `json:"damaged,omitempty"`
}

// DamageScanner finds closed recordings that are damaged, reports them
// (one log line per file, ever: the journal remembers it across restarts)
// and never changes them. Each file is checked once (checkWhole), in the
// background, reading at most Rate bytes a second; a file that changes
// (size or modification time) is checked again. Start-up recovery's quick
// check of file ends goes through it too (Note, Known). Safe for
// concurrent use.
type DamageScanner struct {
	dir   string
	log   *slog.Logger
	inUse func(string) bool
	// Rate bounds the bytes read a second (DefaultCheckRate when 0).
	Rate int64
	// Now is the clock that tells recently written files (time.Now).
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]checkEntry
	lines   int  // lines in the journal file
	failing bool // the last append to the journal failed
}

// NewDamageScanner returns the scanner of the recordings under dir, with
// what its journal remembers. inUse reports the files being written (nil:
// none); log receives one line per damaged file found.
func NewDamageScanner(dir string, inUse func(string) bool, log *slog.Logger) *DamageScanner {
	if inUse == nil {
		inUse = func(string) bool { return false }
	}
	d := &DamageScanner{dir: dir, log: log, inUse: inUse, Now: time.Now, entries: map[string]checkEntry{}}
	d.load()
	return d
}

// Dir is the storage directory scanned.
func (d *DamageScanner) Dir() string { return d.dir }

func (d *DamageScanner) journal() string { return filepath.Join(d.dir, CheckJournalName) }

// load reads the journal; lines a power cut tore are skipped.
func (d *DamageScanner) load() {
	f, err := os.Open(d.journal())
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var e checkEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Path != "" {
			d.entries[e.Path] = e
		}
		d.lines++
	}
}

func (d *DamageScanner) rel(path string) (string, bool) {
	r, err := filepath.Rel(d.dir, path)
	if err != nil || r == "." || strings.HasPrefix(r, "..") {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// lookup returns the entry of path if it is for this size and mtime.
func (d *DamageScanner) lookup(path string, size int64, mtime time.Time) (checkEntry, bool) {
	r, ok := d.rel(path)
	if !ok {
		return checkEntry{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.entries[r]
	return e, ok && e.Size == size && e.MTime == mtime.UnixNano()
}

// Known reports whether the file at path was checked as it is now: start-
// up recovery need not look at it again.
func (d *DamageScanner) Known(path string, info fs.FileInfo) bool {
	_, ok := d.lookup(path, info.Size(), info.ModTime())
	return ok
}

// Damaged returns why the file at path, of this size and modification
// time, was found damaged; ok is false when it was not (or not yet
// checked as it is now).
func (d *DamageScanner) Damaged(path string, size int64, mtime time.Time) (why string, ok bool) {
	e, found := d.lookup(path, size, mtime)
	return e.Damaged, found && e.Damaged != ""
}

// Note records what a check of the file at path found (why: "" for
// nothing), logging it if damaged: the only log line about the file
// while it stays as it is.
func (d *DamageScanner) Note(path string, info fs.FileInfo, why string) {
	r, ok := d.rel(path)
	if !ok {
		return
	}
	e := checkEntry{Path: r, Size: info.Size(), MTime: info.ModTime().UnixNano(), Damaged: why}
	d.mu.Lock()
	if old, ok := d.entries[r]; ok && old == e {
		d.mu.Unlock()
		return
	}
	d.entries[r] = e
	err := d.appendLine(e)
	// A full card fails every append: one line until one works again.
	first := err != nil && !d.failing
	d.failing = err != nil
	d.mu.Unlock()
	if first {
		d.log.Warn("recording checks not remembered; the files are checked again at the next start", "path", path, "err", err)
	}
	if why != "" {
		d.log.Warn("damaged recording left as is", "path", path, "action", RecoveredDamaged, "detail", why)
	}
}

// appendLine adds e to the journal. Call with mu held.
func (d *DamageScanner) appendLine(e checkEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.journal(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("check journal: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("check journal: %w", err)
	}
	d.lines++
	return nil
}

// compact rewrites the journal with the entries of the files seen in the
// last pass when most of its lines are stale (deleted files, duplicates):
// written aside, fsynced, renamed over.
func (d *DamageScanner) compact(seen map[string]bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for r := range d.entries {
		if !seen[r] {
			delete(d.entries, r)
		}
	}
	if d.lines <= 64 || d.lines <= 2*len(d.entries) {
		return nil
	}
	var buf bytes.Buffer
	for _, e := range d.entries {
		b, _ := json.Marshal(e)
		buf.Write(append(b, '\n'))
	}
	if err := ReplaceFile(d.journal(), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("compact check journal: %w", err)
	}
	d.lines = len(d.entries)
	return nil
}

// Pass checks every closed recording under the directory not checked as
// it is now, reading each no faster than Rate bytes a second. Files being written, with an open marker,
// or written within RecentWriteWindow are left for a later pass. It
// returns how many files it checked and found damaged; ctx ends it early.
func (d *DamageScanner) Pass(ctx context.Context) (checked, damaged int) {
	var errs []error
	var todo []string
	seen := map[string]bool{}
	markers := map[string]bool{}
	if err := walkFiles(d.dir, func(path string, _ fs.DirEntry) {
		switch {
		case isMarker(path):
			markers[strings.TrimSuffix(path, OpenMarkerSuffix)] = true
		case isRecording(path):
			todo = append(todo, path)
		}
	}, &errs); err != nil {
		return 0, 0
	}
	rate := d.Rate
	if rate <= 0 {
		rate = DefaultCheckRate
	}
	for _, path := range todo {
		if r, ok := d.rel(path); ok {
			seen[r] = true
		}
		info, err := os.Lstat(path)
		if err != nil || markers[path] || d.inUse(path) || d.Now().Sub(info.ModTime()) < RecentWriteWindow || d.Known(path, info) {
			continue
		}
		why, bad, err := checkWholePaced(ctx, path, rate)
		if ctx.Err() != nil {
			return checked, damaged
		}
		if err != nil {
			continue // unreadable now (removed, permissions): a later pass
		}
		// Checked as it was when stat'ed: if it changed meanwhile, the
		// next pass sees a new size or mtime.
		d.Note(path, info, why)
		checked++
		if bad {
			damaged++
		}
	}
	if ctx.Err() == nil {
		if err := d.compact(seen); err != nil {
			d.log.Warn("recording checks", "err", err)
		}
	}
	return checked, damaged
}

// Run makes a Pass now and then every interval until ctx ends, logging
// what a pass that checked files found.
func (d *DamageScanner) Run(ctx context.Context, interval time.Duration) {
	for {
		t0 := time.Now()
		if n, bad := d.Pass(ctx); n > 0 {
			d.log.Info("recordings checked for damage", "dir", d.dir, "files", n, "damaged", bad, "took", time.Since(t0).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
