package upload

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// renameRig is an Uploader (not started: its jobs stay pending) of a
// storage directory with segments in it.
func renameRig(t *testing.T) (*Uploader, string) {
	t.Helper()
	dir := t.TempDir()
	u, err := New(Options{Dir: dir, Target: func(string) (Target, bool, error) { return Target{Name: "t"}, true, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return u, dir
}

func writeSegment(t *testing.T, dir, rel string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mover is what the recorder passes Rename: it moves the file to to.
func mover(t *testing.T, from, to string, called *bool) func() (string, error) {
	return func() (string, error) {
		*called = true
		if err := os.Rename(from, to); err != nil {
			return "", err
		}
		return to, nil
	}
}

// A segment pending upload renamed after a step of the wall clock: the
// job follows it, in memory and in the journal (a restart uploads the new
// name, with the true start for the key's date fields); an upload under
// way, or a multipart upload started, keeps the segment's name.
func TestRenamePendingUpload(t *testing.T) {
	u, dir := renameRig(t)
	wrong := time.Date(1970, 1, 1, 0, 0, 10, 0, time.UTC)
	truth := time.Date(2026, 12, 7, 15, 0, 10, 0, time.UTC)
	old := writeSegment(t, dir, "live/cam1/1970-01-01_00-00-10.flv")
	if err := u.Enqueue(Segment{Path: old, App: "live", Stream: "cam1", Start: wrong}); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "live", "cam1", "2026-12-07_15-00-10.flv")
	var called bool
	p, ok, err := u.Rename(old, truth, mover(t, old, renamed, &called))
	if err != nil || !ok || !called || p != renamed {
		t.Fatalf("Rename: %s %v %v (rename called %v)", p, ok, err, called)
	}
	if u.Pending(old) || !u.Pending(renamed) {
		t.Errorf("pending: old %v, renamed %v; want the job under the new name only", u.Pending(old), u.Pending(renamed))
	}
	jobs, err := u.jl.load()
	if err != nil || len(jobs) != 1 || jobs[0].Rel != "live/cam1/2026-12-07_15-00-10.flv" || !jobs[0].Start.Equal(truth) {
		t.Fatalf("journal after the rename: %v %+v", err, jobs)
	}
	u2, err := New(u.opts) // a restart
	if err != nil || !u2.Pending(renamed) || u2.Pending(old) {
		t.Errorf("after a restart: pending renamed %v, old %v (%v)", u2.Pending(renamed), u2.Pending(old), err)
	}

	// Being uploaded now: not renamed.
	busy := writeSegment(t, dir, "live/cam1/1970-01-01_00-00-20.flv")
	if err := u.Enqueue(Segment{Path: busy, App: "live", Stream: "cam1", Start: wrong}); err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	u.current = "live/cam1/1970-01-01_00-00-20.flv"
	u.mu.Unlock()
	called = false
	if p, ok, err := u.Rename(busy, truth, mover(t, busy, renamed+"x", &called)); ok || called || err != nil || p != busy {
		t.Errorf("upload in flight: Rename %s %v %v, rename called %v; want it left alone", p, ok, err, called)
	}
	u.mu.Lock()
	u.current = ""
	u.jobs["live/cam1/1970-01-01_00-00-20.flv"].UploadID = "id-1" // a multipart upload started: its key is fixed
	u.mu.Unlock()
	if _, ok, _ := u.Rename(busy, truth, mover(t, busy, renamed+"x", &called)); ok || called {
		t.Errorf("multipart upload started: renamed (%v, rename called %v)", ok, called)
	}
	if !u.Pending(busy) {
		t.Error("the kept segment's job is gone")
	}
}

// A segment renamed before its Enqueue arrived (the segment-done callback
// and the step raced): the Enqueue follows the rename.
func TestRenameBeforeEnqueue(t *testing.T) {
	u, dir := renameRig(t)
	truth := time.Date(2026, 12, 7, 15, 0, 10, 0, time.UTC)
	old := writeSegment(t, dir, "live/cam1/1970-01-01_00-00-10.flv")
	renamed := filepath.Join(dir, "live", "cam1", "2026-12-07_15-00-10.flv")
	var called bool
	if _, ok, err := u.Rename(old, truth, mover(t, old, renamed, &called)); !ok || err != nil || !called {
		t.Fatalf("Rename: %v %v", ok, err)
	}
	if err := u.Enqueue(Segment{Path: old, App: "live", Stream: "cam1", Start: time.Unix(10, 0)}); err != nil {
		t.Fatalf("Enqueue of the old name after the rename: %v", err)
	}
	if !u.Pending(renamed) || u.Pending(old) {
		t.Errorf("pending: renamed %v, old %v", u.Pending(renamed), u.Pending(old))
	}
	if j := u.jobs["live/cam1/2026-12-07_15-00-10.flv"]; j == nil || !j.Start.Equal(truth) {
		t.Errorf("job %+v, want the true start", j)
	}
}
