package recorder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// BootJournalName is the file in the storage directory that remembers,
// for the segments named while the kernel said its wall clock was not
// synchronised, the boot they were opened in and the steady time since
// that boot when they opened: a later run of the same boot can then tell
// their true start (ReconcileBoot), and one of a later boot knows their
// names are unverified. One JSON line per segment opened (fsynced with
// the open marker), one per rename; ReconcileBoot rewrites it with what
// is still unconfirmed. A box whose clock is synchronised writes nothing.
const BootJournalName = ".tapedeck-clock"

// bootEntry is one line of the boot journal: a segment opened (Boot set)
// or renamed (From set).
type bootEntry struct {
	Path     string    `json:"path"` // under the storage directory, "/" separated
	From     string    `json:"from,omitempty"`
	Named    time.Time `json:"named"`              // the time its name says
	Boot     string    `json:"boot,omitempty"`     // boot_id at its opening
	Since    int64     `json:"since_ns,omitempty"` // CLOCK_BOOTTIME at its opening
	App      string    `json:"app,omitempty"`
	Stream   string    `json:"stream,omitempty"`
	Template string    `json:"template,omitempty"`
	Format   string    `json:"format,omitempty"`
}

// bootJournalMu serializes the appends of the recorders of one process.
var bootJournalMu sync.Mutex

// noteBootOpen journals a segment just opened at path, named at named,
// when the clock says the boot's wall clock is not synchronised.
func noteBootOpen(cfg *Config, app, stream, path string, named time.Time) error {
	b, ok := bootOf(cfg.Clock)
	if !ok || b.Synced {
		return nil
	}
	rel, err := filepath.Rel(cfg.Dir, path)
	if err != nil {
		return nil
	}
	e := bootEntry{Path: filepath.ToSlash(rel), Named: named, Boot: b.ID, Since: int64(b.Since),
		App: app, Stream: stream, Template: cfg.PathTemplate, Format: cfg.Format}
	return appendBootJournal(cfg.Dir, e, true)
}

// noteBootMove journals a rename of a segment, if the journal exists (a
// segment not in it was named on a synchronised clock).
func noteBootMove(dir, old, path string, named time.Time) {
	ro, err1 := filepath.Rel(dir, old)
	rp, err2 := filepath.Rel(dir, path)
	if err1 != nil || err2 != nil {
		return
	}
	appendBootJournal(dir, bootEntry{Path: filepath.ToSlash(rp), From: filepath.ToSlash(ro), Named: named}, false)
}

// appendBootJournal appends e to dir's journal, creating it if create,
// and fsyncs it.
func appendBootJournal(dir string, e bootEntry, create bool) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	flag := os.O_WRONLY | os.O_APPEND
	if create {
		flag |= os.O_CREATE
	}
	bootJournalMu.Lock()
	defer bootJournalMu.Unlock()
	p := filepath.Join(dir, BootJournalName)
	f, err := os.OpenFile(p, flag, 0o644)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return nil
	}
	if err != nil {
		return fmt.Errorf("boot journal: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("boot journal: %w", err)
	}
	return nil
}

// readBootJournal returns the journal's segments, in the order they were
// opened, with their renames applied, and how many bytes it read. A torn
// line (power cut) is skipped.
func readBootJournal(dir string) ([]*bootEntry, int, error) {
	b, err := os.ReadFile(filepath.Join(dir, BootJournalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("boot journal: %w", err)
	}
	return parseBootJournal(b), len(b), nil
}

// parseBootJournal folds the journal's lines.
func parseBootJournal(b []byte) []*bootEntry {
	var out []*bootEntry
	byPath := map[string]*bootEntry{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e bootEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Path == "" {
			continue
		}
		if e.From != "" {
			if o := byPath[e.From]; o != nil {
				delete(byPath, e.From)
				o.Path, o.Named = e.Path, e.Named
				byPath[o.Path] = o
			}
			continue
		}
		if o := byPath[e.Path]; o != nil {
			*o = e // the name was taken again (the first was deleted)
			continue
		}
		out = append(out, &e)
		byPath[e.Path] = &e
	}
	return out
}

// writeBootJournal replaces dir's journal, of which read bytes were read,
// with entries (none: removes it), atomically; lines appended after those
// read (a recorder opening a segment meanwhile) are kept.
func writeBootJournal(dir string, entries []*bootEntry, read int) error {
	p := filepath.Join(dir, BootJournalName)
	bootJournalMu.Lock()
	defer bootJournalMu.Unlock()
	var tail []byte
	if b, err := os.ReadFile(p); err == nil && len(b) > read {
		tail = journalTail(b[read:])
	}
	if len(entries) == 0 && len(tail) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("boot journal: %w", err)
		}
		syncDir(dir)
		return nil
	}
	var buf bytes.Buffer
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf.Write(append(line, '\n'))
	}
	buf.Write(tail)
	if err := ReplaceFile(p, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("boot journal: %w", err)
	}
	return nil
}

// journalTail keeps of the lines appended after a read what is about
// segments opened in them: the renames of the segments read were applied
// by the reader (ReconcileBoot's own renames among them).
func journalTail(b []byte) []byte {
	var out bytes.Buffer
	opened := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e bootEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Path == "" {
			continue
		}
		if e.From != "" && !opened[e.From] {
			continue
		}
		opened[e.Path] = true
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	return out.Bytes()
}
