package upload

import (
	"os"
	"path/filepath"
	"time"
)

// maxMoved bounds what the Uploader remembers of renames (Rename) for a
// segment not queued yet; a step of the wall clock renames at most the
// recorder's 4,096 tracked segments, almost all of them queued already.
const maxMoved = 4096

// Rename is the recorder's guard of the renames after a step of the wall
// clock (recorder.ClockSteps.SetRenamer): the closed segment at path is to
// be renamed to the name its true start, start, gives. An upload of it
// under way (being sent now, or a multipart upload started, whose object
// key is fixed) keeps its name: rename is not called and ok is false (the
// recorder writes its true start beside it instead). Otherwise rename
// runs, and a pending job follows the file: it is journaled under the new
// name, with the true start (the object key's date fields), before the old
// job is removed. A crash between the rename and that journal write leaves
// the old job, which is dropped as lost at its next attempt.
func (u *Uploader) Rename(path string, start time.Time, rename func() (string, error)) (string, bool, error) {
	rel, err := u.rel(path)
	if err != nil {
		p, err := rename() // not below storage.dir: nothing of ours
		return p, err == nil, err
	}
	// mu is held across the rename, so that next cannot pick the job
	// meanwhile; saveMu, so that no update of it is being journaled.
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	j, queued := u.jobs[rel]
	if u.current == rel || queued && j.UploadID != "" {
		return path, false, nil
	}
	p, err := rename()
	if err != nil || p == path {
		return p, err == nil, err
	}
	nrel, err := u.rel(p)
	if err != nil {
		return p, true, nil // renamed out of storage.dir: cannot happen with a checked template
	}
	if !queued {
		// Its Enqueue may still be on its way: it follows the rename.
		if len(u.moved) >= maxMoved {
			clear(u.moved)
		}
		if u.moved == nil {
			u.moved = map[string]moved{}
		}
		u.moved[rel] = moved{rel: nrel, start: start}
		return p, true, nil
	}
	next := *j
	next.Parts = nil
	next.Rel, next.Start, next.Key = nrel, start, ""
	if info, err := os.Stat(p); err == nil {
		next.ModTime = info.ModTime() // the recorder moves it with the name
	}
	if err := u.jl.save(&next); err != nil {
		u.log.Error("upload journal: renamed segment not journaled; its upload will be reported lost", "path", rel, "to", nrel, "err", err)
		return p, true, nil
	}
	if err := u.jl.remove(rel); err != nil {
		u.log.Error("upload journal", "err", err)
	}
	delete(u.jobs, rel)
	u.jobs[nrel] = &next
	u.log.Info("pending upload follows its segment renamed after a wall clock step", "from", rel, "path", nrel)
	return p, true, nil
}

// moved is where Rename moved a segment not queued yet.
type moved struct {
	rel   string
	start time.Time
}

// follow maps a segment being enqueued to where Rename moved it.
func (u *Uploader) follow(s Segment) (Segment, string, error) {
	rel, err := u.rel(s.Path)
	if err != nil {
		return s, "", err
	}
	u.mu.Lock()
	m, ok := u.moved[rel]
	delete(u.moved, rel)
	u.mu.Unlock()
	if !ok {
		return s, rel, nil
	}
	s.Path = filepath.Join(u.opts.Dir, filepath.FromSlash(m.rel))
	s.Start = m.start
	return s, m.rel, nil
}
