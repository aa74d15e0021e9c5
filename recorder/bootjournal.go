package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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
// is still unconfirmed, and it is compacted as it grows (see
// bootjournal_compact.go). A box whose clock is synchronised writes
// nothing.
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

// BootJournal is the boot journal (BootJournalName) of one storage
// directory. Make one per storage directory and give the same one to
// every recorder over it (Config.Journal) and to ReconcileBoot
// (BootOptions.Journal): it serializes their writes, and compacts the file
// when it grows, which needs every writer of the file to go through it.
// Safe for concurrent use.
type BootJournal struct {
	// Logger receives the failures to compact the journal; set it before
	// use. Default slog.Default().
	Logger *slog.Logger

	dir       string
	compactAt int64             // the least size that is compacted (bootJournalCompactAt)
	noSync    bool              // tests: appends are not fsynced
	tee       func(line []byte) // tests: every line appended, as written

	// names serializes the renames of segments in the directory
	// (renameSegment): they probe which names are free, then take one.
	names sync.Mutex

	mu   sync.Mutex
	size int64 // the file's size after this journal's last write; -1: not known
	next int64 // the size past which an append compacts it
	// holds counts the ReconcileBoots between reading the journal and
	// rewriting it: they keep what was appended after the bytes they read,
	// so the file is only appended to meanwhile, never compacted.
	holds       int
	compactions int // tests
}

// NewBootJournal returns the boot journal of the storage directory dir.
// It touches nothing until a segment is journaled.
func NewBootJournal(dir string) *BootJournal {
	return &BootJournal{dir: dir, compactAt: bootJournalCompactAt, size: -1, next: bootJournalCompactAt}
}

// Dir is the storage directory of the journal.
func (j *BootJournal) Dir() string { return j.dir }

func (j *BootJournal) path() string { return filepath.Join(j.dir, BootJournalName) }

func (j *BootJournal) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.Default()
}

// sameDir reports whether dir is the journal's storage directory.
func (j *BootJournal) sameDir(dir string) bool {
	return filepath.Clean(dir) == filepath.Clean(j.dir)
}

// rel is path under the journal's directory, "/" separated.
func (j *BootJournal) rel(path string) (string, bool) {
	r, err := filepath.Rel(j.dir, path)
	if err != nil {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// noteBootOpen journals a segment just opened at path, named at named,
// which was ago before now (a segment is named by its first frame's
// arrival), when the clock says the boot's wall clock is not synchronised
// and cfg has a journal.
func noteBootOpen(cfg *Config, app, stream, path string, named time.Time, ago time.Duration) error {
	j := cfg.Journal
	if j == nil {
		return nil
	}
	b, ok := bootOf(cfg.Clock)
	if !ok || b.Synced {
		return nil
	}
	rel, ok := j.rel(path)
	if !ok {
		return nil
	}
	e := bootEntry{Path: rel, Named: named, Boot: b.ID, Since: int64(b.Since - ago),
		App: app, Stream: stream, Template: cfg.PathTemplate, Format: cfg.Format}
	return j.append(e, true)
}

// noteBootMove journals a rename of a segment, if the journal exists (a
// segment not in it was named on a synchronised clock).
func noteBootMove(j *BootJournal, old, path string, named time.Time) {
	if j == nil {
		return
	}
	ro, ok1 := j.rel(old)
	rp, ok2 := j.rel(path)
	if !ok1 || !ok2 {
		return
	}
	j.append(bootEntry{Path: rp, From: ro, Named: named}, false)
}

// append appends e to the journal, creating it if create, and fsyncs it;
// a segment opened (create) compacts the journal once it has grown past
// next.
func (j *BootJournal) append(e bootEntry, create bool) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	flag := os.O_RDWR | os.O_APPEND
	if create {
		flag |= os.O_CREATE
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.path(), flag, 0o644)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return nil
	}
	if err != nil {
		return fmt.Errorf("boot journal: %w", err)
	}
	if err = j.write(f, line); err == nil && !j.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		j.size = -1 // perhaps a part written: look at its end again
		return fmt.Errorf("boot journal: %w", err)
	}
	if create && j.holds == 0 && j.size > j.next {
		j.compact()
	}
	return nil
}

// write appends line to the journal file f. A file whose end this journal
// did not write may end in a torn line (a power cut during an append, or a
// write that failed): line then starts on a line of its own, or the two
// would be lost together.
func (j *BootJournal) write(f *os.File, line []byte) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	if size > 0 && size != j.size {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	n, err := f.Write(line)
	j.size = size + int64(n)
	if j.tee != nil {
		j.tee(line[:n])
	}
	return err
}

// hold stops compaction until the returned release is called (see holds).
func (j *BootJournal) hold() (release func()) {
	j.mu.Lock()
	j.holds++
	j.mu.Unlock()
	return func() {
		j.mu.Lock()
		j.holds--
		j.mu.Unlock()
	}
}
