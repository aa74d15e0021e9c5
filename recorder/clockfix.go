package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Segments closed before a step of the wall clock keep their names: hooks
// and uploads already have them. Their true start is written beside them
// instead, in a start sidecar (NAME.flv.start), which every listing reads
// (ListDir, Index), so that the recordings index, the API and playback
// order and date them by the time they were really recorded at, and so
// that retention ages them by it. ClockSteps keeps, for the segments
// closed in this run, their opening on the steady clock; when the wall
// clock steps it writes (or rewrites, or removes) their sidecars.

// StartSidecarSuffix ends the name of the file beside a segment that holds
// its true start when its name does not (the wall clock stepped after the
// segment was named): NAME.flv has NAME.flv.start. It goes with the
// segment (retention, the API's delete).
const StartSidecarSuffix = ".start"

// maxTrackedSegments bounds what ClockSteps remembers of this run's
// closed segments (about 150 B each): a step corrects the most recent
// ones. On a box without a real-time clock the steps come minutes after
// boot, when there are a few.
const maxTrackedSegments = 4096

// trackedSegment is a segment closed in this run.
type trackedSegment struct {
	path   string
	named  time.Time     // the time its name says
	opened time.Duration // its opening on the steady clock
	fixed  time.Time     // the start its sidecar says; zero: none (guarded by fixMu)
}

// startSidecar is the start sidecar of the segment at path.
func startSidecar(segment string) string { return segment + StartSidecarSuffix }

// isStartSidecar reports whether path is the start sidecar of a recording.
func isStartSidecar(path string) bool {
	return strings.HasSuffix(path, StartSidecarSuffix) && isRecording(strings.TrimSuffix(path, StartSidecarSuffix))
}

// RemoveSidecars removes what sits beside a segment that is being deleted
// (its open marker, its start sidecar): left alone they would keep its
// directory from being pruned.
func RemoveSidecars(segment string) {
	os.Remove(markerPath(segment))
	os.Remove(startSidecar(segment))
}

// SegmentStart is when the segment at path started: the true start its
// start sidecar holds, else the time its name says (zero if none).
func SegmentStart(path string) time.Time {
	n, _ := ParseSegmentName(path)
	if n.Start.IsZero() {
		return n.Start
	}
	if t, ok := readStartSidecar(path); ok {
		return t
	}
	return n.Start
}

// readStartSidecar returns the true start a segment's sidecar holds.
func readStartSidecar(segment string) (time.Time, bool) {
	b, err := os.ReadFile(startSidecar(segment))
	if err != nil {
		return time.Time{}, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(line))
	if err != nil {
		return time.Time{}, false // torn by a power cut: the name is all there is
	}
	return t, true
}

// writeStartSidecar writes the true start of a segment named at named.
// The first line is what readStartSidecar reads; the rest is for people.
func writeStartSidecar(segment string, start, named time.Time) error {
	text := fmt.Sprintf("%s\n# tapedeck: the wall clock stepped by %v after %s was named; this is when it started, on the corrected clock\n",
		start.Format(time.RFC3339Nano), start.Sub(named).Round(time.Second), filepath.Base(segment))
	if err := os.WriteFile(startSidecar(segment), []byte(text), 0o644); err != nil {
		return fmt.Errorf("write start sidecar: %w", err)
	}
	return nil
}

// track remembers a segment closed in this run, named at named and opened
// at opened on the steady clock, and writes its sidecar at once if the
// wall clock stepped since it was named (a rename after the step failed).
func (s *ClockSteps) track(path string, named time.Time, opened time.Duration) {
	t := &trackedSegment{path: path, named: named, opened: opened}
	s.mu.Lock()
	if len(s.segs) >= maxTrackedSegments {
		n := copy(s.segs, s.segs[len(s.segs)-maxTrackedSegments+1:])
		clear(s.segs[n:])
		s.segs = s.segs[:n]
	}
	s.segs = append(s.segs, t)
	origin := s.frames[len(s.frames)-1].origin
	s.mu.Unlock()
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	s.fixOne(t, origin)
}

// fixSegments brings the sidecars of this run's segments up to the
// current wall clock, after a step.
func (s *ClockSteps) fixSegments() {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	s.mu.Lock()
	origin := s.frames[len(s.frames)-1].origin
	segs := append([]*trackedSegment(nil), s.segs...)
	s.mu.Unlock()
	dirs := map[string]bool{}
	for _, t := range segs {
		if s.fixOne(t, origin) {
			dirs[filepath.Dir(t.path)] = true
		}
	}
	for d := range dirs {
		syncDir(d)
	}
}

// fixOne writes, rewrites or removes t's sidecar so that it says t's start
// on the clock whose steady origin is at origin; it reports whether it
// changed anything. Call with fixMu held.
func (s *ClockSteps) fixOne(t *trackedSegment, origin time.Time) bool {
	start := origin.Add(t.opened)
	near := func(a, b time.Time) bool { d := a.Sub(b); return d > -clockStepTolerance && d < clockStepTolerance }
	switch {
	case t.fixed.IsZero() && near(start, t.named):
		return false // the name is true
	case !t.fixed.IsZero() && near(start, t.fixed):
		return false // the sidecar is
	}
	if _, err := os.Lstat(t.path); err != nil {
		return false // deleted (retention, a user) or moved away by a hook
	}
	if near(start, t.named) { // the clock stepped back to where it was
		if err := os.Remove(startSidecar(t.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logFix(t.path, err)
			return false
		}
		t.fixed = time.Time{}
		return true
	}
	if err := writeStartSidecar(t.path, start, t.named); err != nil {
		s.logFix(t.path, err)
		return false
	}
	t.fixed = start
	return true
}

func (s *ClockSteps) logFix(path string, err error) {
	if s.Logger != nil {
		s.Logger.Warn("true start of a segment named before a wall clock step not written; the index dates it by its name", "path", path, "err", err)
	}
}
