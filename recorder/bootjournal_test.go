package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// neverSynced opens n segments of live/cam1 in dir the way a recorder
// does on a box whose clock never synchronises (a Pi without NTP): two
// boots, each starting its wall clock in 1970, so the second boot's names
// meet the first's (-N when the file is still there, the same name again
// when retention deleted it). Retention deletes all but the last keep
// files as it goes, except every 10,000th segment (a recording kept on
// purpose); every 500th segment, and every 20th of the last keep, is
// renamed as after a step. It returns the largest size the journal had.
// Appends are not fsynced (j.noSync): 50,000 fsyncs would measure the
// disk, not the journal.
func neverSynced(t *testing.T, j *BootJournal, n, keep int) int64 {
	t.Helper()
	dir := j.Dir()
	j.noSync = true
	var elapsed time.Duration
	boot := func(id string) *bootFake {
		return &bootFake{fakeClock: &fakeClock{base: time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC),
			elapsed: func() time.Duration { return elapsed }}, id: id, since: 20 * time.Second}
	}
	cfg := Config{Dir: dir, PathTemplate: DefaultPathTemplate, Format: FormatFLV, Journal: j}
	var retained []string // by opening; pinned ones are not in it
	var largest int64
	for i := 0; i < n; i++ {
		if i == 0 || i == n/2 {
			cfg.Clock, elapsed = boot(fmt.Sprintf("b%d", 2*i/n)), 0
		}
		elapsed += 10 * time.Second
		named := cfg.Clock.Now()
		p := createTestSegment(t, &cfg, named)
		if err := noteBootOpen(&cfg, "live", "cam1", p, named, 0); err != nil {
			t.Fatal(err)
		}
		if i%500 == 250 || (i >= n-keep && i%20 == 0) {
			np, err := renameSegment(&cfg, "live", "cam1", p, named.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			p = np
		}
		if i%10000 != 0 {
			retained = append(retained, p)
		}
		if len(retained) > keep {
			if err := os.Remove(retained[0]); err != nil {
				t.Fatal(err)
			}
			retained = retained[1:]
		}
		info, err := os.Stat(filepath.Join(dir, BootJournalName))
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, info.Size())
	}
	return largest
}

// createTestSegment creates the segment file a recorder opening at named
// creates (the template's name, -N when taken), empty, without its
// directory fsync.
func createTestSegment(t *testing.T, cfg *Config, named time.Time) string {
	t.Helper()
	base := filepath.Join(cfg.Dir, filepath.FromSlash(expandTemplate(cfg.PathTemplate, "live", "cam1", named)))
	for i, made := 0, false; ; i++ {
		p := seqName(base, i, formatExt(cfg.Format))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) && !made {
			made, i = true, i-1
			if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
}

// fixRel is a BootFix relative to its storage directory.
type fixRel struct {
	Old, New   string
	Unverified bool
}

// reconcileRel reconciles dir on the second boot, a minute after its last
// segment opened, the clock now synchronised and right, and returns the
// fixes and the files left, relative to dir.
func reconcileRel(t *testing.T, dir string, n int) ([]fixRel, []string) {
	t.Helper()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := &bootFake{fakeClock: &fakeClock{base: now}, id: "b1", since: 20*time.Second + time.Duration(n/2)*10*time.Second + time.Minute, synced: true}
	fixes, err := ReconcileBoot(dir, BootOptions{Clock: clock, Logger: testLogger(t), Journal: NewBootJournal(dir)})
	if err != nil {
		t.Fatal(err)
	}
	rel := func(p string) string {
		r, _ := filepath.Rel(dir, p)
		return filepath.ToSlash(r)
	}
	var out []fixRel
	for _, f := range fixes {
		out = append(out, fixRel{rel(f.Old), rel(f.Segment.Path), f.Unverified})
	}
	var left []string
	for _, p := range files(t, dir) {
		left = append(left, rel(p))
	}
	return out, left
}

// A box whose clock never synchronises opens 50,000 segments, retention
// keeping the last 100 (and 5 kept on purpose): the journal stays under
// its bound all along (uncompacted it grows past 10 MB), and the next
// start renames and marks the surviving segments exactly as it does from
// the uncompacted journal (every line appended, as the journal was before
// compaction), in a copy of the directory.
func TestBootJournalBoundedNeverSynced(t *testing.T) {
	t.Parallel()
	const n, keep = 50000, 100
	dir, full := memTempDir(t), t.TempDir()
	j := NewBootJournal(dir)
	var uncompacted []byte
	j.tee = func(line []byte) { uncompacted = append(uncompacted, line...) }
	largest := neverSynced(t, j, n, keep)
	t.Logf("journal: largest %d bytes, %d compactions; uncompacted %d bytes", largest, j.compactions, len(uncompacted))
	if bound := int64(bootJournalCompactAt + 1024); largest > bound {
		t.Errorf("journal reached %d bytes, bound %d", largest, bound)
	}
	if len(uncompacted) < 10<<20 || j.compactions == 0 {
		t.Fatalf("uncompacted journal %d bytes, %d compactions: the simulation does not grow the journal", len(uncompacted), j.compactions)
	}
	copyTree(t, dir, full)
	if err := os.WriteFile(filepath.Join(full, BootJournalName), uncompacted, 0o644); err != nil {
		t.Fatal(err)
	}
	got, gotFiles := reconcileRel(t, dir, n)
	want, wantFiles := reconcileRel(t, full, n)
	unverified := 0
	for _, f := range want {
		if f.Unverified {
			unverified++
		}
	}
	if len(want) != keep+5 || unverified != 3 {
		t.Fatalf("uncompacted: %d fixes (%d unverified), want %d (3 of the first boot unverified): %+v", len(want), unverified, keep+5, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fixes from the compacted journal differ:\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(gotFiles, wantFiles) {
		t.Errorf("files after reconciling the compacted journal:\n%v\nwant\n%v", gotFiles, wantFiles)
	}
}

// memTempDir is a temporary directory in memory (/dev/shm) where there is
// one: creating and deleting 50,000 files costs about 200 µs each on the
// ext4 of a CI machine's virtual disk, 10 s of a test about the journal.
func memTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "tapedeck-journal-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// copyTree copies the files under from (segments: empty) to to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	for _, p := range files(t, from) {
		rel, _ := filepath.Rel(from, p)
		b, err := os.ReadFile(p)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(to, rel), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// journalSegments makes count segment files in dir, journaled by j on an
// unsynchronised clock of boot b0, and returns their paths.
func journalSegments(t *testing.T, j *BootJournal, count int) []string {
	t.Helper()
	var elapsed time.Duration
	cfg := Config{Dir: j.Dir(), PathTemplate: DefaultPathTemplate, Format: FormatFLV, Journal: j,
		Clock: &bootFake{fakeClock: &fakeClock{base: time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC),
			elapsed: func() time.Duration { return elapsed }}, id: "b0", since: time.Minute}}
	var out []string
	for i := 0; i < count; i++ {
		elapsed += 10 * time.Second
		p := createTestSegment(t, &cfg, cfg.Clock.Now())
		if err := noteBootOpen(&cfg, "live", "cam1", p, cfg.Clock.Now(), 0); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// journalLines checks that every line of dir's journal is a whole entry
// (a torn journal fails), but for a last line that is the start of
// tornTail (an append a kill cut short: a write crossing a page boundary
// may stop there on SIGKILL), and returns the segments it folds to and
// whether its last line was torn.
func journalLines(t *testing.T, dir string, tornTail []byte) ([]string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, BootJournalName))
	if err != nil {
		t.Fatal(err)
	}
	torn := false
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		var e bootEntry
		if err := json.Unmarshal(l, &e); err == nil && e.Path != "" && bytes.HasSuffix(l, []byte("\n")) {
			continue
		}
		if i == len(lines)-1 && (len(l) == 0 || (len(tornTail) > 0 && bytes.HasPrefix(tornTail, l))) {
			torn = len(l) > 0
			continue
		}
		t.Fatalf("journal line %d of %d %q: %v", i+1, len(lines), l, err)
	}
	var out []string
	for _, e := range parseBootJournal(b) {
		out = append(out, filepath.Join(dir, filepath.FromSlash(e.Path)))
	}
	return out, torn
}

// leftovers lists the temporary files of journal rewrites in dir.
func leftovers(dir string) []string {
	des, _ := os.ReadDir(dir)
	var out []string
	for _, d := range des {
		if strings.HasPrefix(d.Name(), "."+BootJournalName+".tmp-") {
			out = append(out, d.Name())
		}
	}
	return out
}

// reconcileOtherBoot reconciles dir on another boot and checks that it
// marks exactly want unverified and leaves no temporary file.
func reconcileOtherBoot(t *testing.T, dir string, want []string) {
	t.Helper()
	clock := &bootFake{fakeClock: &fakeClock{base: time.Now()}, id: "b9", since: time.Minute, synced: true}
	fixes, err := ReconcileBoot(dir, BootOptions{Clock: clock, Logger: testLogger(t), Journal: NewBootJournal(dir)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fixes {
		if f.Unverified {
			got = append(got, f.Segment.Path)
		}
	}
	if !reflect.DeepEqual(got, want) || len(fixes) != len(want) {
		t.Errorf("reconcile marked %v (%d fixes), want %v", got, len(fixes), want)
	}
	if left := leftovers(dir); len(left) != 0 {
		t.Errorf("temporary journal files left after the rewrite: %v", left)
	}
}

// A compaction cut short by a crash leaves a temporary file (half
// written, or whole but not renamed) beside the old journal: the journal
// still reads whole, the next start reconciles from it, and the next
// compaction (after a restart) removes the leftovers.
func TestBootJournalCompactionInterrupted(t *testing.T) {
	t.Parallel()
	for _, reconcileFirst := range []bool{true, false} {
		dir := t.TempDir()
		segs := journalSegments(t, NewBootJournal(dir), 10)
		for _, p := range segs[:5] {
			os.Remove(p) // retention
		}
		old, _ := os.ReadFile(filepath.Join(dir, BootJournalName))
		compacted, _ := marshalBootEntries(parseBootJournal(old)[5:])
		os.WriteFile(filepath.Join(dir, "."+BootJournalName+".tmp-1"), compacted[:len(compacted)/2], 0o644) // killed while writing
		os.WriteFile(filepath.Join(dir, "."+BootJournalName+".tmp-2"), compacted, 0o644)                    // killed before the rename
		if got, _ := journalLines(t, dir, nil); !reflect.DeepEqual(got, segs) {
			t.Fatalf("journal after the interrupted compaction folds to %v, want %v", got, segs)
		}
		if reconcileFirst {
			reconcileOtherBoot(t, dir, segs[5:])
			continue
		}
		j := NewBootJournal(dir) // the restarted run's
		j.compactAt, j.next = 1, 1
		more := journalSegments(t, j, 1)
		if j.compactions != 1 {
			t.Fatalf("%d compactions, want 1", j.compactions)
		}
		if left := leftovers(dir); len(left) != 0 {
			t.Errorf("temporary journal files left after a compaction: %v", left)
		}
		if got, _ := journalLines(t, dir, nil); !reflect.DeepEqual(got, append(segs[5:], more...)) {
			t.Errorf("compacted journal folds to %v, want %v", got, append(segs[5:], more...))
		}
	}
}

// killedChildEnv names the storage directory the child process of
// TestBootJournalCompactionKilled journals in.
const killedChildEnv = "TAPEDECK_TEST_BOOT_JOURNAL_DIR"

// A run compacting its journal at every segment open is killed (SIGKILL)
// at varied points, many times: each time the journal is whole (every
// line an entry, but for a last one an append was cut short in: that
// append's entry is lost, never the journal) and holds every segment on
// disk, and at the end the next start reconciles from it and removes any
// temporary file a kill left.
func TestBootJournalCompactionKilled(t *testing.T) {
	const kills = 20
	if dir := os.Getenv(killedChildEnv); dir != "" {
		killedChild(t, dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	segs := journalSegments(t, NewBootJournal(dir), 300)
	for _, p := range segs[:100] {
		os.Remove(p)
	}
	segs = segs[100:]
	entries, _, _ := NewBootJournal(dir).read()
	appended, _ := marshalBootEntries(entries[len(entries)-1:]) // the child's line
	left, torn := 0, 0
	for i := 0; i < kills; i++ {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestBootJournalCompactionKilled$", "-test.count=1")
		cmd.Env = append(os.Environ(), killedChildEnv+"="+dir, "TAPEDECK_TEST_READY="+ready)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the child never compacted")
			}
		}
		time.Sleep(time.Duration(i*1777%20000) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		got, cut := journalLines(t, dir, appended)
		if !reflect.DeepEqual(got, segs) {
			t.Fatalf("kill %d: journal folds to %d segments %v, want %d", i, len(got), got, len(segs))
		}
		if cut {
			torn++
		}
		if len(leftovers(dir)) > 0 {
			left++
		}
	}
	t.Logf("of %d kills, %d left a temporary file of a compaction, %d a torn append", kills, left, torn)
	reconcileOtherBoot(t, dir, segs)
}

// killedChild journals the last segment in dir again and again, and
// compacts the journal after each append, until it is killed; it says it runs by creating
// $TAPEDECK_TEST_READY after its first compaction.
func killedChild(t *testing.T, dir string) {
	entries, _, err := NewBootJournal(dir).read()
	if err != nil || len(entries) == 0 {
		t.Fatalf("journal: %v", err)
	}
	last := *entries[len(entries)-1]
	j := NewBootJournal(dir)
	for i := 0; ; i++ {
		if err := j.append(last, true); err != nil {
			t.Fatal(err)
		}
		j.mu.Lock()
		j.compact() // as if past next, each time
		j.mu.Unlock()
		if j.compactions != i+1 {
			t.Fatal("not compacted")
		}
		if i == 0 {
			os.WriteFile(os.Getenv("TAPEDECK_TEST_READY"), nil, 0o644)
		}
	}
}

// A journal whose last line was torn (a power cut during an append) gets
// the next entry on a line of its own: neither is lost with the other.
func TestBootJournalTornLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	segs := journalSegments(t, NewBootJournal(dir), 2)
	p := filepath.Join(dir, BootJournalName)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-20], 0o644) // the second line torn
	more := journalSegments(t, NewBootJournal(dir), 1)
	if got, want := journalFolded(t, dir), []string{segs[0], more[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal folds to %v, want %v", got, want)
	}
}

// journalFolded is what dir's journal folds to, torn lines skipped.
func journalFolded(t *testing.T, dir string) []string {
	t.Helper()
	entries, _, err := NewBootJournal(dir).read()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(dir, filepath.FromSlash(e.Path)))
	}
	return out
}

// A name taken again after its file was deleted, by a new segment or by
// a rename onto it, leaves one entry, the newest, at its own place.
func TestParseBootJournalNameTakenAgain(t *testing.T) {
	t.Parallel()
	named := time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC)
	lines := []bootEntry{
		{Path: "a.flv", Named: named, Boot: "b0"},
		{Path: "b.flv", Named: named, Boot: "b0"},
		{Path: "c.flv", Named: named, Boot: "b0"},
		{Path: "a.flv", Named: named, Boot: "b1"},                   // a deleted, opened again
		{Path: "b.flv", From: "c.flv", Named: named.Add(time.Hour)}, // b deleted, c renamed onto it
	}
	var buf []byte
	for _, e := range lines {
		l, _ := json.Marshal(e)
		buf = append(append(buf, l...), '\n')
	}
	got := parseBootJournal(buf)
	if len(got) != 2 || got[0].Path != "b.flv" || got[0].Boot != "b0" || !got[0].Named.Equal(named.Add(time.Hour)) ||
		got[1].Path != "a.flv" || got[1].Boot != "b1" {
		t.Errorf("folded to %+v %+v", got[0], got[len(got)-1])
	}
	again, _ := marshalBootEntries(got)
	if re := parseBootJournal(again); !reflect.DeepEqual(re, got) {
		t.Errorf("the folded entries fold to %+v", re)
	}
}

// No journal in the Config: nothing is journaled; one of another
// directory: Record refuses it.
func TestConfigJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &bootFake{fakeClock: fixedClock(), id: "b0"}
	cfg := Config{Dir: dir, Clock: clock}
	p := filepath.Join(dir, "a.mp4")
	if err := noteBootOpen(&cfg, "live", "cam1", p, clock.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, BootJournalName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal written without Config.Journal: %v", err)
	}
	cfg.Journal = NewBootJournal(t.TempDir())
	if err := cfg.setDefaults(); err == nil {
		t.Error("a journal of another directory accepted")
	}
}
