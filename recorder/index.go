package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RecentWriteWindow: a file written to this recently is reported open
// (possibly still being written) unless the recorder said it closed it:
// it may be a segment of another process, or of a recorder that has not
// reported yet.
const RecentWriteWindow = 10 * time.Second

// ErrUnsafePath is wrapped by the errors of relative paths that would
// leave the index's directory.
var ErrUnsafePath = errors.New("recorder: path leaves the storage directory")

// Index is the recordings index of one storage directory (Config.Dir): the
// one place that lists segment files, reads the time their names encode
// (segname.go), tells their format and whether they are still being
// written, and knows their durations. Playback, the HTTP API, the web
// console's timeline and the uploader all read the recordings through it.
// It keeps no list of its own: every call looks at the disk, so files the
// recorder, retention or a person added or removed show at once; only
// what costs a file read (format, duration) is cached, by path, size and
// modification time. Safe for concurrent use.
type Index struct {
	dir   string
	inUse func(path string) bool
	now   func() time.Time
	facts *factCache
}

// NewIndex returns the index of the recordings under dir. inUse reports
// the files a recorder is writing, named as the recorder names them
// (filepath.Join(dir, ...)): OpenSegments.InUse. nil: none.
func NewIndex(dir string, inUse func(path string) bool) *Index {
	if inUse == nil {
		inUse = func(string) bool { return false }
	}
	return &Index{dir: dir, inUse: inUse, now: time.Now, facts: newFactCache()}
}

// Dir is the storage directory the index lists.
func (x *Index) Dir() string { return x.dir }

// StreamRef names a stream that has recordings.
type StreamRef struct {
	App, Stream string
}

// SegmentInfo describes one recording file.
type SegmentInfo struct {
	// Path is the file: filepath.Join(Dir, Rel) for the Index's answers,
	// the directory given to ListDir joined with the name for its own.
	Path string
	// Rel is the path under Dir with "/" separators
	// ("live/cam1/2026-11-24_10-00-00.mp4"): the API's path, and the object
	// key an uploader puts after its prefix. Empty from ListDir.
	Rel string
	// App is Rel's first element and Stream the elements between it and
	// the file name (the default template's {app}/{stream}); both empty
	// for a file less than two directories deep.
	App, Stream string
	Name        SegmentName
	// Start is when the recording started: Name.Start, or the true start
	// its start sidecar holds when the wall clock stepped after it was
	// named (StartCorrected; see clockfix.go), or the modification time
	// for a name without a time.
	Start time.Time
	// StartCorrected: Start is from the start sidecar, not the name.
	StartCorrected bool
	// TimeUnverified: the name's time was read, in an earlier boot, on a
	// wall clock the kernel said was not synchronised, and no later run
	// could correct it (see bootfix.go): Start may be wrong.
	TimeUnverified bool
	// Format is FormatFMP4, FormatMP4 or FormatFLV, as the file is now: an
	// .mp4 recorded as "mp4" is fmp4 until its close rewrites it. Empty
	// from ListDir.
	Format  string
	Size    int64
	ModTime time.Time
	// Open: the recorder is writing the file, or it was written within
	// RecentWriteWindow and no recorder of this run said it closed it.
	Open bool
	// Duration is 0 when not known (yet): the file is open, unreadable,
	// or was not read within a listing's budget (see FillDurations).
	Duration time.Duration
}

// End is when the segment's media ends: Start plus Duration when that is
// known, else the last write (ModTime) for a name with a time, else Start.
func (s SegmentInfo) End() time.Time {
	switch {
	case s.Duration > 0:
		return s.Start.Add(s.Duration)
	case !s.Name.Start.IsZero():
		// The modification time was stamped by the clock that named the
		// file: moved as the start was.
		if m := s.ModTime.Add(s.Start.Sub(s.Name.Start)); m.After(s.Start) {
			return m
		}
	}
	return s.Start
}

// overlaps reports whether the segment has media within [from, to]; a
// zero bound is open.
func (s SegmentInfo) overlaps(from, to time.Time) bool {
	return (from.IsZero() || !s.End().Before(from)) && (to.IsZero() || !s.Start.After(to))
}

// ListDir returns the recordings directly in dir (regular files with a
// recording's extension: not subdirectories, not symbolic links, which
// may point anywhere) in play order (CompareSegments). Path, Name,
// Start, StartCorrected, Size and ModTime are filled in; the Index fills
// in the rest.
func ListDir(dir string) ([]SegmentInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("recordings in %s: %w", dir, err)
	}
	var out []SegmentInfo
	sidecars := map[string]bool{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if isStartSidecar(p) {
			sidecars[strings.TrimSuffix(p, StartSidecarSuffix)] = true
		} else if s, ok := fileSegment(p, e); ok {
			out = append(out, s)
		}
	}
	applySidecars(out, sidecars)
	sortSegments(out)
	return out, nil
}

// applySidecars sets the true start of the segments that have a start
// sidecar (rare: only after a step of the wall clock).
func applySidecars(segs []SegmentInfo, sidecars map[string]bool) {
	if len(sidecars) == 0 {
		return
	}
	for i := range segs {
		if s := &segs[i]; sidecars[s.Path] && !s.Name.Start.IsZero() {
			if t, ok := readStartSidecar(s.Path); ok {
				s.Start, s.StartCorrected = t, true
			} else {
				s.TimeUnverified = sidecarUnverified(s.Path)
			}
		}
	}
}

// CompareSegments orders recordings for playback: by when they started
// (Start: the name's time, corrected by a start sidecar), then by
// CompareSegmentNames, which also puts names without a time last. It
// returns -1, 0 or +1 as a sorts before, with or after b.
func CompareSegments(a, b SegmentInfo) int {
	if !a.Name.Start.IsZero() && !b.Name.Start.IsZero() {
		// Names hold seconds: compare to the second, so that a corrected
		// start does not reorder "X.mp4" and "X-1.mp4" by sub-seconds.
		if c := a.Start.Truncate(time.Second).Compare(b.Start.Truncate(time.Second)); c != 0 {
			return c
		}
	}
	return CompareSegmentNames(a.Path, b.Path)
}

// fileSegment describes the directory entry at path if it is a recording.
func fileSegment(path string, e fs.DirEntry) (SegmentInfo, bool) {
	if !e.Type().IsRegular() {
		return SegmentInfo{}, false
	}
	name, ok := ParseSegmentName(e.Name())
	if !ok {
		return SegmentInfo{}, false
	}
	info, err := e.Info()
	if err != nil { // removed meanwhile
		return SegmentInfo{}, false
	}
	s := SegmentInfo{Path: path, Name: name, Start: name.Start, Size: info.Size(), ModTime: info.ModTime()}
	if s.Start.IsZero() {
		s.Start = s.ModTime
	}
	return s, true
}

func sortSegments(segs []SegmentInfo) {
	slices.SortStableFunc(segs, CompareSegments)
}

// Streams lists the streams that have at least one recording, by app
// then stream.
func (x *Index) Streams() ([]StreamRef, error) {
	all, err := x.All(time.Time{}, time.Time{})
	var out []StreamRef
	for _, s := range all {
		r := StreamRef{App: s.App, Stream: s.Stream}
		if r.App != "" && (len(out) == 0 || out[len(out)-1] != r) {
			out = append(out, r)
		}
	}
	return out, err
}

// Segments returns one stream's recordings in play order, those with media
// within [from, to] (zero: unbounded), the durations as far as they are
// known without reading files (see FillDurations).
func (x *Index) Segments(app, stream string, from, to time.Time) ([]SegmentInfo, error) {
	rel, err := cleanRel(app + "/" + stream)
	if err != nil {
		return nil, err
	}
	segs, err := ListDir(filepath.Join(x.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	out := segs[:0]
	for _, s := range segs {
		x.fill(&s, rel+"/"+filepath.Base(s.Path))
		if s.overlaps(from, to) {
			out = append(out, s)
		}
	}
	return out, nil
}

// All returns every recording under the directory (any depth, symbolic
// links not followed), stream by stream (by app, then stream), each in
// play order, those with media within [from, to] (zero: unbounded). It
// also forgets what it cached about files no longer there. A missing
// directory has no recordings; unreadable subdirectories are skipped and
// reported in err along with what was found.
func (x *Index) All(from, to time.Time) ([]SegmentInfo, error) {
	var out []SegmentInfo
	var errs []error
	seen := map[string]struct{}{}
	sidecars := map[string]bool{}
	// The trailing separator makes a storage directory that is a symbolic
	// link (to a USB disk, say) walked like a directory; links below it
	// are not followed.
	root := x.dir
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			errs = append(errs, err)
			return nil
		}
		if isStartSidecar(p) {
			sidecars[strings.TrimSuffix(p, StartSidecarSuffix)] = true
			return nil
		}
		s, ok := fileSegment(p, d)
		if !ok {
			return nil
		}
		seen[p] = struct{}{}
		rel, err := filepath.Rel(x.dir, p)
		if err != nil {
			return nil
		}
		x.fill(&s, filepath.ToSlash(rel))
		out = append(out, s)
		return nil
	})
	switch {
	case errors.Is(walkErr, fs.ErrNotExist):
		return nil, nil
	case walkErr != nil:
		return nil, fmt.Errorf("recordings in %s: %w", x.dir, walkErr)
	}
	x.facts.forgetMissing(x.dir, seen)
	applySidecars(out, sidecars)
	kept := out[:0]
	for _, s := range out {
		if s.overlaps(from, to) {
			kept = append(kept, s)
		}
	}
	out = kept
	slices.SortStableFunc(out, func(a, b SegmentInfo) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		if c := strings.Compare(a.Stream, b.Stream); c != 0 {
			return c
		}
		return CompareSegments(a, b)
	})
	return out, errors.Join(errs...)
}

// Lookup returns the recording at rel (a path under the directory, "/"
// separated, as SegmentInfo.Rel). It refuses, with an error wrapping
// ErrUnsafePath, paths that leave the directory (.., absolute, a symbolic
// link leading out) and answers an error wrapping fs.ErrNotExist for
// anything that is not a recording file.
func (x *Index) Lookup(rel string) (SegmentInfo, error) {
	clean, err := cleanRel(rel)
	if err != nil {
		return SegmentInfo{}, err
	}
	p := filepath.Join(x.dir, filepath.FromSlash(clean))
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("recording %s: %w", rel, err)
	}
	realRoot, err := filepath.EvalSymlinks(x.dir)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("storage directory: %w", err)
	}
	if r, err := filepath.Rel(realRoot, real); err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return SegmentInfo{}, fmt.Errorf("%w: %s", ErrUnsafePath, rel)
	}
	info, err := os.Stat(real)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("recording %s: %w", rel, err)
	}
	s, ok := fileSegment(p, fs.FileInfoToDirEntry(info))
	if !ok || !IsSegmentFile(real) {
		return SegmentInfo{}, fmt.Errorf("recording %s: %w", rel, fs.ErrNotExist)
	}
	if t, ok := readStartSidecar(p); ok && !s.Name.Start.IsZero() {
		s.Start, s.StartCorrected = t, true
	} else if !s.Name.Start.IsZero() {
		s.TimeUnverified = sidecarUnverified(p)
	}
	x.fill(&s, clean)
	return s, nil
}

// RelPath returns path (as a recorder names its files: the directory
// joined with the template's expansion) relative to the directory, "/"
// separated: what Lookup takes and an uploader's key ends with.
func (x *Index) RelPath(path string) (string, error) {
	r, err := filepath.Rel(x.dir, path)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %s", ErrUnsafePath, path)
	}
	return filepath.ToSlash(r), nil
}

// cleanRel checks a "/"-separated relative path: no empty, "." or ".."
// elements, no backslash, NUL or leading "/".
func cleanRel(rel string) (string, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.ContainsAny(rel, "\\\x00") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, rel)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == "" || el == "." || el == ".." {
			return "", fmt.Errorf("%w: %q", ErrUnsafePath, rel)
		}
	}
	return rel, nil
}

// fill completes what ListDir found about s, at rel under the directory.
func (x *Index) fill(s *SegmentInfo, rel string) {
	s.Rel = rel
	if parts := strings.Split(rel, "/"); len(parts) >= 3 {
		s.App, s.Stream = parts[0], strings.Join(parts[1:len(parts)-1], "/")
	}
	s.Format = x.facts.format(s.Path, s.Name.Ext, s.Size, s.ModTime)
	closed := x.facts.closedKnown(s.Path, s.Size, s.ModTime)
	s.Open = x.inUse(s.Path) || (!closed && x.now().Sub(s.ModTime) < RecentWriteWindow)
	if e, ok := x.facts.get(s.Path, s.Size, s.ModTime); ok && e.durSet && !s.Open {
		s.Duration = e.dur
	}
}

// FillDurations sets the Duration of the closed segments in segs that
// have none yet: from the cache, else by reading the files, newest first,
// for at most budget (DurationBudget is the API's), so a listing of many
// files made before a restart stays quick; the ones left over are read by
// later calls. Open segments are left without one.
func (x *Index) FillDurations(segs []SegmentInfo, budget time.Duration) {
	order := make([]int, 0, len(segs))
	for i, s := range segs {
		if s.Duration == 0 && !s.Open {
			order = append(order, i)
		}
	}
	// Newest first: if the budget runs out, the older ones wait for a
	// later listing.
	slices.SortStableFunc(order, func(i, j int) int { return segs[j].Start.Compare(segs[i].Start) })
	deadline := x.facts.now().Add(budget)
	for _, i := range order {
		s := &segs[i]
		if d, ok := x.facts.duration(s.Path, s.Size, s.ModTime, deadline); ok {
			s.Duration = d
		}
	}
}

// Closed records what the recorder knows of a segment it closed (call it
// from Config.OnSegmentDone): its duration, so that listings need not read
// the file, and that it is no longer open. The file must be in its final
// state (it is, when OnSegmentDone runs).
func (x *Index) Closed(s Segment) {
	info, err := os.Stat(s.Path)
	if err != nil || !info.Mode().IsRegular() {
		return // never started, or removed at once: nothing to remember
	}
	x.facts.set(s.Path, info.Size(), info.ModTime(), func(e *factEntry) {
		e.dur, e.durSet, e.closed = s.Duration, true, true
	})
}
