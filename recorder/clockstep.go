package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// How segment names stay truthful when the wall clock steps (NTP setting
// the clock of a box without a real-time clock, by hours or years):
//
//   - Every segment is named by the wall clock when it opens.
//   - The recorder compares the wall clock with the steady clock at every
//     scheduled fsync (2 s) and at close. When the wall clock moved by more
//     than clockStepTolerance against it, the open segment is cut at the
//     next keyframe (audio only: the next frame), so no segment spans a
//     step.
//   - That segment, once closed, is renamed to its true start: its opening
//     on the steady clock, read on the new wall clock. The new name has the
//     usual -1, -2 suffix if taken. Segment.Path is the new name, OpenPath
//     the one OnSegmentOpen reported.
//   - The next segment opens under the new wall clock, so it starts after
//     the renamed one: the names of one stream stay in recording order.
//   - Segments closed before the step in this run are renamed to their
//     true start too (clockfix.go), unless that is not safe (an upload of
//     one under way: ClockSteps.SetRenamer); those keep their names and
//     get their true start written beside them (NAME.flv.start): the
//     recordings index, the API, playback and retention date and order
//     them by it, so after a backward step they still come before the
//     segments recorded later.

// checkClock notes a step of the wall clock while a segment is open.
func (r *recorder) checkClock() {
	if r.seg == nil {
		return
	}
	_, _, origin := readClock(r.cfg.Clock)
	step := origin.Sub(r.segOrigin)
	r.segOrigin = origin
	if step > -clockStepTolerance && step < clockStepTolerance {
		return
	}
	r.segStepped = true
	r.stats.ClockSteps.Add(1)
	r.log.Warn("wall clock stepped; the segment is cut at the next keyframe and named by its true start",
		"step", step.Round(time.Millisecond), "path", r.segInfo.OpenPath)
}

// renameAfterStep renames the segment just closed to its start on the
// current wall clock, and updates segInfo. On failure the segment keeps
// its name (logged): it is complete, only its name is wrong.
func (r *recorder) renameAfterStep() {
	_, _, origin := readClock(r.cfg.Clock)
	start := origin.Add(r.segOpened)
	old := r.segInfo.Path
	p, err := renameSegment(&r.cfg, r.app, r.stream, old, start)
	if err != nil {
		r.log.Error("segment not renamed after a wall clock step", "path", old, "start", start, "err", err)
		return
	}
	r.segInfo.Path, r.segInfo.Start = p, start
	if p != old {
		r.log.Info("segment renamed to its true start after a wall clock step", "from", old, "path", p)
	}
}

// renameSegment moves the closed segment at old to the name a segment
// starting at start gets (the path template, -N when taken), and returns
// the new path (old when that is already its name). A name that has an
// open marker is taken too: a segment is being created there.
func renameSegment(cfg *Config, app, stream, old string, start time.Time) (string, error) {
	// The recorder's rename, ClockSteps' and ReconcileBoot's probe the
	// same names: the directory's journal serializes them.
	if j := cfg.Journal; j != nil {
		j.names.Lock()
		defer j.names.Unlock()
	}
	base := filepath.Join(cfg.Dir, filepath.FromSlash(expandTemplate(cfg.PathTemplate, app, stream, start)))
	if !below(filepath.Clean(cfg.Dir), base) {
		return "", fmt.Errorf("recorder: path template %q leaves the storage directory", cfg.PathTemplate)
	}
	ext := formatExt(cfg.Format)
	for i := 0; i < 10000; i++ {
		p := base + ext
		if i > 0 {
			p = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		if p == old {
			return old, nil
		}
		if taken, err := exists(p); err != nil || taken {
			if err != nil {
				return "", err
			}
			continue
		}
		if taken, err := exists(markerPath(p)); err != nil || taken {
			if err != nil {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		// Not link+unlink: FAT and exFAT cards have no hard links. A
		// name taken in the meantime (the recorder creating its next
		// segment there) is skipped, never replaced.
		if err := renameNoReplace(old, p); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return "", err
		}
		syncDir(filepath.Dir(p))
		if filepath.Dir(p) != filepath.Dir(old) {
			syncDir(filepath.Dir(old))
		}
		noteBootMove(cfg.Journal, old, p, start)
		return p, nil
	}
	return "", fmt.Errorf("recorder: no free name for %s%s", base, ext)
}

// renameChecked renames old to new unless new exists (not atomic: for
// filesystems without RENAME_NOREPLACE).
func renameChecked(old, new string) error {
	if taken, err := exists(new); err != nil {
		return err
	} else if taken {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	}
	return os.Rename(old, new)
}

// exists reports whether path names something (not following a link).
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
