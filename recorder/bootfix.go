package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A step of the wall clock across a restart (a Pi recorded with the time
// of its last shutdown, tapedeck was restarted, and NTP set the clock
// before or after): the run that named the segments cannot see it, so
// they are journaled (bootjournal.go) with the boot they were opened in
// and the steady time since that boot, and the next start checks them:
//
//   - Same boot: the true start is the wall clock now minus the steady
//     time since the segment opened. A name off by more than
//     clockStepTolerance is renamed to it as after a step within a run
//     (renameSegment: -N when taken, never replacing; the modification
//     time moved by as much; a pending upload follows through the
//     Renamer), or, when that is not safe, gets a start sidecar.
//   - Another boot: nothing can tell when it was recorded. It keeps its
//     name and gets an unverified sidecar (NAME.flv.start saying
//     "unverified"); the index reports it (SegmentInfo.TimeUnverified).
//
// An entry is dropped once checked on a clock the kernel says is
// synchronised, or found on another boot, or its file is gone.

// unverifiedSidecar is the first line of a start sidecar that holds no
// true start: the name's time was read on a clock nothing could verify.
const unverifiedSidecar = "unverified"

// BootOptions are ReconcileBoot's.
type BootOptions struct {
	// Clock is this run's clock; nil: a new SystemClock. One that is not
	// a BootClock checks nothing.
	Clock Clock
	// Renamer guards the renames (as ClockSteps.SetRenamer); nil: none.
	Renamer Renamer
	Logger  *slog.Logger // default slog.Default()
	// Journal is dir's boot journal, the one its recorders are given
	// (Config.Journal); nil: one made for this call, which is right only
	// while nothing records in dir.
	Journal *BootJournal
}

// BootFix is a segment of an earlier run that ReconcileBoot renamed to its
// true start (Old is the name it had), or marked unverified.
type BootFix struct {
	Segment    Segment // Path, App, Stream, Start, Bytes and Format
	Old        string
	Unverified bool
}

// ReconcileBoot checks the names of the segments dir's boot journal holds
// against the clock of this run (see above) and returns what it changed.
// Call it at start-up, after Recover and before recording; it is
// idempotent (the journal forgets what it confirmed).
func ReconcileBoot(dir string, o BootOptions) ([]BootFix, error) {
	if o.Clock == nil {
		o.Clock = NewSystemClock()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	j := o.Journal
	if j == nil {
		j = NewBootJournal(dir)
	} else if !j.sameDir(dir) {
		return nil, fmt.Errorf("recorder: boot journal of %s given to reconcile %s", j.Dir(), dir)
	}
	defer j.hold()() // its rewrite below keeps what was appended after its read
	entries, read, err := j.read()
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	boot, ok := bootOf(o.Clock)
	if !ok {
		return nil, nil // nothing to compare with: the journal stays for a run that can
	}
	now := o.Clock.Now()
	var fixes []BootFix
	var keep []*bootEntry
	unverified := 0
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		info, err := os.Lstat(p)
		if err != nil || !info.Mode().IsRegular() || !below(filepath.Clean(dir), p) {
			continue // deleted, or not ours
		}
		if taken, _ := exists(markerPath(p)); taken {
			keep = append(keep, e) // being written (this run), or left for Recover
			continue
		}
		seg := Segment{Path: p, App: e.App, Stream: e.Stream, Start: e.Named, Bytes: info.Size(), Format: e.Format}
		if e.Boot != boot.ID {
			if markUnverified(p) {
				unverified++
				fixes = append(fixes, BootFix{Segment: seg, Old: p, Unverified: true})
			}
			continue
		}
		start := now.Add(-(boot.Since - time.Duration(e.Since)))
		if d := start.Sub(e.Named); d > -clockStepTolerance && d < clockStepTolerance {
			if !boot.Synced {
				keep = append(keep, e)
			}
			continue
		}
		np, err := renameEarlier(j, e, p, start, o.Renamer)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil || np == "":
			// Kept by its upload, or the rename failed: the sidecar says
			// its start, as after a step within a run.
			if err != nil {
				log.Warn("segment of an earlier run not renamed; its true start is written beside it", "path", p, "start", start, "err", err)
			}
			if err := writeStartSidecar(p, start, e.Named); err != nil {
				log.Warn("true start of a segment of an earlier run not written", "path", p, "err", err)
			}
			keep = append(keep, e)
			continue
		}
		log.Info("segment of an earlier run renamed to its true start (the wall clock stepped across a restart)", "from", p, "path", np,
			"step", start.Sub(e.Named).Round(time.Millisecond))
		old := p
		seg.Path, seg.Start = np, start
		fixes = append(fixes, BootFix{Segment: seg, Old: old})
		rel, _ := filepath.Rel(dir, np)
		e.Path, e.Named = filepath.ToSlash(rel), start
		if !boot.Synced {
			keep = append(keep, e)
		}
	}
	if unverified > 0 {
		log.Warn("segments of an earlier boot were named by a clock that was not synchronised; their times are marked unverified",
			"dir", dir, "segments", unverified)
	}
	if err := j.rewrite(keep, read); err != nil {
		return fixes, err
	}
	return fixes, nil
}

// renameEarlier renames the segment of e at p to the name start gives,
// through renamer when set (the rename journaled in j); "" when the
// renamer kept it.
func renameEarlier(j *BootJournal, e *bootEntry, p string, start time.Time, renamer Renamer) (string, error) {
	cfg := Config{Dir: j.Dir(), PathTemplate: e.Template, Format: e.Format, Journal: j}
	if cfg.PathTemplate == "" {
		cfg.PathTemplate = DefaultPathTemplate
	}
	rename := func() (string, error) {
		info, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		np, err := renameSegment(&cfg, e.App, e.Stream, p, start)
		if err != nil {
			return "", err
		}
		// Stamped by the same wrong clock as the name: retention ages it
		// by when it was recorded.
		mod := info.ModTime().Add(start.Sub(e.Named))
		os.Chtimes(np, mod, mod)
		os.Remove(startSidecar(p))
		return np, nil
	}
	if renamer == nil {
		return rename()
	}
	np, ok, err := renamer(p, start, rename)
	if err != nil || !ok {
		return "", err
	}
	return np, nil
}

// markUnverified writes the unverified sidecar of the segment at p unless
// it has a sidecar already; it reports whether it wrote one.
func markUnverified(p string) bool {
	if taken, err := exists(startSidecar(p)); err != nil || taken {
		return false
	}
	text := fmt.Sprintf("%s\n# tapedeck: %s was named by a wall clock the kernel said was not synchronised, in an earlier boot; when it was recorded is not known\n",
		unverifiedSidecar, filepath.Base(p))
	return os.WriteFile(startSidecar(p), []byte(text), 0o644) == nil
}

// sidecarUnverified reports whether the segment's start sidecar says its
// name's time is unverified.
func sidecarUnverified(segment string) bool {
	b, err := os.ReadFile(startSidecar(segment))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line) == unverifiedSidecar
}
