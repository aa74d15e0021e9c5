package recorder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// read returns the journal's segments, in the order they were opened,
// with their renames applied, and how many bytes it read. A torn line
// (power cut) is skipped.
func (j *BootJournal) read() ([]*bootEntry, int, error) {
	b, err := os.ReadFile(j.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("boot journal: %w", err)
	}
	return parseBootJournal(b), len(b), nil
}

// parseBootJournal folds the journal's lines: one entry per segment, at
// the place of its opening, under its latest name. An entry whose name was
// taken again (its file deleted, a new segment opened or renamed there)
// is dropped: nothing of it is left on disk. So the entries have distinct
// paths, and the lines of a journal written from them fold to them again.
func parseBootJournal(b []byte) []*bootEntry {
	var out []*bootEntry
	byPath := map[string]*bootEntry{}
	dead := map[*bootEntry]bool{}
	eachBootLine(b, func(e *bootEntry, _ []byte) {
		if e.From != "" {
			o := byPath[e.From]
			if o == nil {
				return // named on a synchronised clock
			}
			delete(byPath, e.From)
			if t := byPath[e.Path]; t != nil {
				dead[t] = true
			}
			o.Path, o.Named = e.Path, e.Named
			byPath[o.Path] = o
			return
		}
		if o := byPath[e.Path]; o != nil {
			dead[o] = true
		}
		out = append(out, e)
		byPath[e.Path] = e
	})
	if len(dead) == 0 {
		return out
	}
	live := out[:0]
	for _, e := range out {
		if !dead[e] {
			live = append(live, e)
		}
	}
	return live
}

// rewrite replaces the journal, of which read bytes were read (by read,
// under a hold), with entries (none: removes it), atomically; lines
// appended after those read (a recorder opening a segment meanwhile) are
// kept.
func (j *BootJournal) rewrite(entries []*bootEntry, read int) error {
	p := j.path()
	j.mu.Lock()
	defer j.mu.Unlock()
	var tail []byte
	if b, err := os.ReadFile(p); err == nil && len(b) > read {
		tail = journalTail(b[read:])
	}
	if len(entries) == 0 && len(tail) == 0 {
		j.removeLeftovers()
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("boot journal: %w", err)
		}
		syncDir(j.dir)
		j.size, j.next = 0, j.compactAt
		return nil
	}
	buf, err := marshalBootEntries(entries)
	if err != nil {
		return err
	}
	buf = append(buf, tail...)
	if err := j.replace(buf); err != nil {
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
	eachBootLine(b, func(e *bootEntry, line []byte) {
		if e.From != "" && !opened[e.From] {
			return
		}
		opened[e.Path] = true
		out.Write(line)
		out.WriteByte('\n')
	})
	return out.Bytes()
}

// eachBootLine calls fn with each journal line of b that parses as an
// entry with a path, in order; a torn line (a power cut) is skipped.
func eachBootLine(b []byte, fn func(e *bootEntry, line []byte)) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		e := new(bootEntry)
		if json.Unmarshal(sc.Bytes(), e) != nil || e.Path == "" {
			continue
		}
		fn(e, sc.Bytes())
	}
}

// marshalBootEntries is entries as journal lines.
func marshalBootEntries(entries []*bootEntry) ([]byte, error) {
	var buf bytes.Buffer
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
