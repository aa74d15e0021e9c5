package recorder

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The journal is rewritten by ReconcileBoot at each start, but a box whose
// clock never synchronises (no NTP, no real-time clock) may run for months
// without one, appending a line per segment opened and per rename. Of
// those lines only the segments still on disk matter (a later start
// checks only those), and retention deletes old segments: so once the
// journal has grown past next, the segment open that passed it compacts
// it, keeping one line per journaled segment whose file is still there,
// its renames folded in. The journal then follows the number of retained
// segments instead of the uptime.
//
// bootJournalCompactAt is the least size compacted: about 1,100 entries
// (a line is about 230 bytes), read and checked (one lstat each) in a few
// milliseconds even on a Pi's SD card, at most once per ~1,100 segments
// opened; a stream of 10-minute segments compacts about weekly. After a
// compaction next is twice what was kept (at least bootJournalCompactAt),
// so where retention keeps many more segments than that, compaction still
// costs O(1) lstats per segment opened on average, and the journal stays
// under twice what it must hold.
const bootJournalCompactAt = 256 << 10

// compact rewrites the journal (mu held) with the entries whose segment is
// still on disk, atomically (ReplaceFile: a crash leaves the old journal
// or the new one, and perhaps a temporary file that the next compaction or
// rewrite removes). A failure leaves the journal as it was and is tried
// again after another bootJournalCompactAt.
func (j *BootJournal) compact() {
	fail := func(err error) {
		j.next = j.size + j.compactAt
		j.logger().Warn("boot journal not compacted; it grows until the next start", "path", j.path(), "err", err)
	}
	b, err := os.ReadFile(j.path())
	if err != nil {
		fail(err)
		return
	}
	entries := parseBootJournal(b)
	keep := entries[:0]
	for _, e := range entries {
		if j.onDisk(e.Path) {
			keep = append(keep, e)
		}
	}
	buf, err := marshalBootEntries(keep)
	if err == nil {
		err = j.replace(buf)
	}
	if err != nil {
		fail(err)
		return
	}
	j.compactions++
	j.logger().Debug("boot journal compacted", "path", j.path(), "bytes", len(b), "kept", len(buf), "segments", len(keep))
}

// replace writes data as the journal (mu held), removing what an earlier
// replace cut short by a crash left behind.
func (j *BootJournal) replace(data []byte) error {
	j.removeLeftovers()
	if err := ReplaceFile(j.path(), data, 0o644); err != nil {
		j.size = -1
		return err
	}
	j.size = int64(len(data))
	j.next = max(j.compactAt, 2*j.size)
	return nil
}

// removeLeftovers removes the temporary files of replaces a crash cut
// short (mu held: none of this journal's is in progress).
func (j *BootJournal) removeLeftovers() {
	des, err := os.ReadDir(j.dir)
	if err != nil {
		return
	}
	for _, d := range des {
		if strings.HasPrefix(d.Name(), "."+BootJournalName+".tmp-") {
			os.Remove(filepath.Join(j.dir, d.Name()))
		}
	}
}

// onDisk reports whether the journaled segment at rel may still be there:
// a regular file under the directory, or one that cannot be checked (kept
// when in doubt). ReconcileBoot skips the same ones.
func (j *BootJournal) onDisk(rel string) bool {
	p := filepath.Join(j.dir, filepath.FromSlash(rel))
	if !below(filepath.Clean(j.dir), p) {
		return false
	}
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || info.Mode().IsRegular()
}
