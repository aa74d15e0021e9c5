package vod

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
)

// After the wall clock stepped back a day, a followed stream directory
// takes in the segments recorded since, although their names sort before
// the one played: the timeline follows the index's order (the true starts
// of the start sidecars), not the names'.
func TestRescanAfterBackwardClockStep(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "2026-12-07_15-00-00.flv")
	next := filepath.Join(dir, "2026-12-06_15-00-02.flv")
	os.WriteFile(first, []byte("x"), 0o644)
	trueStart := time.Date(2026, 12, 6, 15, 0, 0, 0, time.Local)
	os.WriteFile(first+recorder.StartSidecarSuffix, []byte(trueStart.Format(time.RFC3339Nano)+"\n"), 0o644)
	s := &Session{dir: dir, segs: []segment{{path: first, dur: 2000}}, listed: first}
	if s.rescan() {
		t.Fatalf("rescan found segments before any was added: %v", s.segs)
	}
	os.WriteFile(next, []byte("x"), 0o644)
	if !s.rescan() || len(s.segs) != 2 || s.segs[1].path != next {
		t.Fatalf("after the next segment: timeline %v, want %s appended", s.segs, filepath.Base(next))
	}
	if s.rescan() {
		t.Errorf("rescan took a segment twice: %v", s.segs)
	}
	// ?start= by wall time finds the stepped segment at its true start.
	s.segs[0].start = nameTime(first)
	if at, err := s.fromQuery(trueStart.Add(time.Second).Format(time.RFC3339), time.Now()); err != nil || at != 1000 {
		t.Errorf("a second after its true start: timeline %d ms (%v), want 1000", at, err)
	}
}
