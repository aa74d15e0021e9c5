package appliance

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/upload"
	"github.com/tapedeck/tapedeck/recorder"
)

// crashedSegments lists the segments under dir that a crash left open
// (their marker is there), to be queued once recovery has run.
func crashedSegments(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == upload.JournalDir {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, recorder.OpenMarkerSuffix) {
			out = append(out, strings.TrimSuffix(p, recorder.OpenMarkerSuffix))
		}
		return nil
	})
	return out
}

// startUploads opens the upload journal of storage.dir and starts the
// uploader; its settings are read from the config in force at each
// attempt, so a reload applies to the backlog. storage.dir itself is
// read once: a new one takes a restart.
func (a *Appliance) startUploads(cfg *Config, crashed []string) {
	box, err := os.Hostname()
	if err != nil || box == "" {
		box = "tapedeck"
	}
	up, err := upload.New(upload.Options{
		Dir:    cfg.Storage.Dir,
		Logger: a.log.With("component", "upload"),
		Target: func(app string) (upload.Target, bool, error) { return a.config().uploadTarget(app, box) },
		OnDeleted: func(path string) {
			a.log.Debug("uploaded segment deleted locally", "path", path)
		},
	})
	if err != nil {
		a.log.Error("upload journal read in part", "err", err)
	}
	a.rec.mu.Lock()
	a.rec.up = up
	a.rec.mu.Unlock()
	// After a step of the wall clock, closed segments are renamed to
	// their true start: a pending upload follows, one under way keeps
	// its segment's name.
	a.rec.clock.SetRenamer(up.Rename)
	// Segments a crash left open never had their segment-done: the ones
	// start-up recovery kept are queued now.
	idx := a.rec.index(cfg.Storage.Dir)
	for _, p := range crashed {
		rel, err := filepath.Rel(cfg.Storage.Dir, p)
		if err != nil {
			continue
		}
		s, err := idx.Lookup(filepath.ToSlash(rel))
		if err != nil {
			continue // removed by recovery: nothing playable
		}
		if err := up.Enqueue(upload.Segment{Path: p, App: s.App, Stream: s.Stream, Start: s.Start}); err != nil {
			a.log.Error("recovered segment not queued for upload", "path", p, "err", err)
		}
	}
	up.Start()
}

// enqueueUpload journals a closed segment for upload, off the recorder's
// goroutine (the journal fsyncs).
func (r *recordings) enqueueUpload(s recorder.Segment) {
	r.mu.Lock()
	up := r.up
	r.mu.Unlock()
	if up == nil || s.Bytes == 0 {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := up.Enqueue(upload.Segment{Path: s.Path, App: s.App, Stream: s.Stream, Start: s.Start}); err != nil {
			r.log.Error("segment not queued for upload", "path", s.Path, "err", err)
		}
	}()
}

// uploadPolicy adds the uploader's say to a retention policy: segments
// not yet uploaded are kept but for the free-space floor.
func (r *recordings) uploadPolicy(p recorder.Policy) recorder.Policy {
	r.mu.Lock()
	up := r.up
	r.mu.Unlock()
	if up != nil {
		p.Keep, p.Lost = up.Pending, up.Lost
	}
	return p
}

// uploader returns the uploader, nil before Start.
func (r *recordings) uploader() *upload.Uploader {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// reloadUploads tries the backlog at once with the reloaded settings
// (new credentials, a bucket made); a new storage.dir takes a restart.
func (a *Appliance) reloadUploads(old, cfg *Config) {
	if old.Storage.Dir != cfg.Storage.Dir {
		a.log.Warn("uploads keep the journal of the old storage.dir until a restart", "dir", old.Storage.Dir)
	}
	if up := a.rec.uploader(); up != nil {
		up.Retry()
	}
}
