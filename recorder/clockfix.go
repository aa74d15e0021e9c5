package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Segments closed before a step of the wall clock are renamed to their
// true start (their opening on the steady clock, read on the corrected
// wall clock), as the open segment is: ClockSteps keeps, for the segments
// closed in this run, their opening on the steady clock and how to name
// them, and renames them when the wall clock steps. A segment that cannot
// be renamed safely (an upload of it is under way: see Renamer; its
// segment-done callback has not returned yet; the rename failed) keeps its
// name, and its true start is written beside it instead, in a start
// sidecar (NAME.flv.start), which every listing reads (ListDir, Index), so
// that the recordings index, the API and playback order and date it by the
// time it was really recorded at, and so that retention ages it by it.

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
	path   string        // written with both mu and fixMu held
	closed string        // the path OnSegmentDone reported
	named  time.Time     // the time its name says
	opened time.Duration // its opening on the steady clock
	fixed  time.Time     // the start its sidecar says; zero: none (guarded by fixMu)
	namer  *segNamer     // how its recorder names segments; nil: never renamed
	// reported: its OnSegmentDone returned, so its owner (index, upload
	// queue) has its path; before that it is not renamed.
	reported atomic.Bool
}

// segNamer is what renameSegment needs of a recorder's Config.
type segNamer struct {
	cfg         Config // Dir, PathTemplate, Format and Journal only
	app, stream string
}

// Renamer guards the renames of closed segments after a step of the wall
// clock. It is called with the segment's path, its true start and rename,
// which moves the file to the name its true start gives and returns the
// new path. It calls rename unless what holds the path needs it to stay
// (an upload in flight), updates what it keeps of the path (a pending
// upload), and returns rename's result; ok false when it did not call
// rename: the segment keeps its name and gets a start sidecar.
// upload.Uploader.Rename is one.
type Renamer func(path string, start time.Time, rename func() (string, error)) (newPath string, ok bool, err error)

// SetRenamer sets the guard of the renames after a step (nil: none, every
// closed segment is renamed). Safe to call at any time.
func (s *ClockSteps) SetRenamer(f Renamer) {
	s.mu.Lock()
	s.renamer = f
	s.mu.Unlock()
}

// SetOnRename sets what is told of every closed segment renamed after a
// step of the wall clock, with its old path (nil: nothing); the segment
// hook's rename event (Hook.Renamed) is told this way. It is called
// outside the clock's locks. Safe to call at any time.
func (s *ClockSteps) SetOnRename(f func(old string, seg Segment)) {
	s.mu.Lock()
	s.onRename = f
	s.mu.Unlock()
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
// at opened on the steady clock (namer: how to rename it), and writes its
// sidecar at once if the wall clock stepped since it was named (a rename
// after the step failed). The caller sets reported once the segment's
// OnSegmentDone returned.
func (s *ClockSteps) track(path string, named time.Time, opened time.Duration, namer *segNamer) *trackedSegment {
	t := &trackedSegment{path: path, closed: path, named: named, opened: opened, namer: namer}
	s.mu.Lock()
	if len(s.segs) >= maxTrackedSegments {
		for _, old := range s.segs[:len(s.segs)-maxTrackedSegments+1] {
			delete(s.renamed, old.path)
			delete(s.moved, old.closed)
		}
		n := copy(s.segs, s.segs[len(s.segs)-maxTrackedSegments+1:])
		clear(s.segs[n:])
		s.segs = s.segs[:n]
	}
	s.segs = append(s.segs, t)
	origin := s.frames[len(s.frames)-1].origin
	s.mu.Unlock()
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	s.fixOne(t, origin, nil)
	return t
}

// fixSegments brings the sidecars of this run's segments up to the
// current wall clock, after a step.
func (s *ClockSteps) fixSegments() {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	s.mu.Lock()
	origin := s.frames[len(s.frames)-1].origin
	segs := append([]*trackedSegment(nil), s.segs...)
	renamer := s.renamer
	s.mu.Unlock()
	dirs := map[string]bool{}
	for _, t := range segs {
		dir := filepath.Dir(t.path)
		if s.fixOne(t, origin, renamer) {
			dirs[dir] = true // a sidecar written or removed there
		}
	}
	for d := range dirs {
		syncDir(d)
	}
}

// fixOne renames t to its start on the clock whose steady origin is at
// origin, or, when that is not safe, writes, rewrites or removes its
// sidecar so that it says that start; it reports whether it changed
// anything. Call with fixMu held.
func (s *ClockSteps) fixOne(t *trackedSegment, origin time.Time, renamer Renamer) bool {
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
	if t.namer != nil && t.reported.Load() && s.renameOne(t, start, renamer) {
		return true
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

// renameOne renames t to the name start gives, through renamer when set,
// and removes its sidecar; false when it was not renamed (the caller
// writes the sidecar instead).
func (s *ClockSteps) renameOne(t *trackedSegment, start time.Time, renamer Renamer) bool {
	old := t.path
	rename := func() (string, error) {
		info, err := os.Lstat(old)
		if err != nil {
			return "", err
		}
		p, err := renameSegment(&t.namer.cfg, t.namer.app, t.namer.stream, old, start)
		if err != nil {
			return "", err
		}
		// Its modification time was stamped by the same wrong clock as
		// its name: move it by as much, so that retention in a later
		// run (which cannot correct it) ages it by when it was recorded.
		mod := info.ModTime().Add(start.Sub(t.named))
		if err := os.Chtimes(p, mod, mod); err != nil {
			s.logFix(p, err)
		}
		return p, nil
	}
	var p string
	var ok bool
	var err error
	if renamer != nil {
		p, ok, err = renamer(old, start, rename)
	} else {
		p, err = rename()
		ok = err == nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return true // deleted meanwhile (retention, a user): no sidecar for it
	}
	if err != nil {
		if s.Logger != nil {
			s.Logger.Warn("segment named before a wall clock step not renamed; its true start is written beside it", "path", old, "start", start, "err", err)
		}
		return false
	}
	if !ok {
		return false // kept by its upload: the sidecar says its start
	}
	// The name is true now: a sidecar written before (a step while the
	// segment was not yet reported, or kept by its upload) goes.
	if err := os.Remove(startSidecar(old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logFix(old, err)
	}
	s.mu.Lock()
	t.path, t.named, t.fixed = p, start, time.Time{}
	delete(s.renamed, old)
	if s.renamed == nil {
		s.renamed, s.moved = map[string]bool{}, map[string]movedSegment{}
	}
	s.renamed[p] = true
	s.moved[t.closed] = movedSegment{p, start}
	onRename := s.onRename
	s.mu.Unlock()
	if p != old && s.Logger != nil {
		s.Logger.Info("segment renamed to its true start after a wall clock step", "from", old, "path", p)
	}
	if p != old && onRename != nil {
		seg := Segment{Path: p, App: t.namer.app, Stream: t.namer.stream, Start: start, Format: t.namer.cfg.Format}
		if info, err := os.Lstat(p); err == nil {
			seg.Bytes = info.Size()
		}
		onRename(old, seg)
	}
	return true
}

// movedSegment is where a step moved a closed segment.
type movedSegment struct {
	path  string
	start time.Time
}

// Follow returns seg (as OnSegmentDone reported it) with the path and
// start a rename after a step of the wall clock gave it since, if any:
// for those who act on a segment later (Hook.Follow).
func (s *ClockSteps) Follow(seg Segment) Segment {
	s.mu.Lock()
	m, ok := s.moved[seg.Path]
	s.mu.Unlock()
	if ok {
		seg.Path, seg.Start = m.path, m.start
	}
	return seg
}

// renamedThisRun reports whether path is a segment of this run renamed
// after a step: its modification time is corrected already, and (being
// before the step) is in none of the clock's frames.
func (s *ClockSteps) renamedThisRun(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renamed[path]
}

func (s *ClockSteps) logFix(path string, err error) {
	if s.Logger != nil {
		s.Logger.Warn("true start of a segment named before a wall clock step not written; the index dates it by its name", "path", path, "err", err)
	}
}
