package appliance

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/upload"
	"github.com/tapedeck/tapedeck/appliance/vod"
	"github.com/tapedeck/tapedeck/recorder"
)

// recordings runs one recorder per recorded live stream, as a hub
// subscriber, and keeps the recordings index of the storage directory.
type recordings struct {
	log    *slog.Logger
	hub    *hub.Hub
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]*activeRecording // by app/stream
	hooks  map[string]*recorder.Hook   // by app, built on first use
	open   recorder.OpenSegments       // files being written: retention skips them
	clock  *recorder.ClockSteps        // shared by recorders and retention: wall clock steps
	// idx is the recordings index of the storage directory in force;
	// segments closed in this run tell it their durations.
	idx *recorder.Index
	// journals are the boot journals by storage directory: one per
	// directory, shared by its recorders and the start's ReconcileBoot.
	journals map[string]*recorder.BootJournal

	swept     int64 // segments deleted by retention
	recovered []recorder.Recovered
	// scan checks the closed recordings of the storage directory of the
	// start for damage, once per file (its journal outlives restarts).
	scan *recorder.DamageScanner

	up *upload.Uploader // set by startUploads (uploads.go)
}

type activeRecording struct {
	stats *recorder.Stats
	sub   *hub.Subscriber
}

func newRecordings(h *hub.Hub, log *slog.Logger) *recordings {
	ctx, cancel := context.WithCancel(context.Background())
	clock := recorder.NewClockSteps(nil)
	clock.Logger = log
	r := &recordings{log: log, hub: h, ctx: ctx, cancel: cancel, active: make(map[string]*activeRecording),
		clock: clock}
	clock.SetOnRename(r.segmentRenamed)
	return r
}

// openSegments is vod.Options.Open for a play of t: whether a file is a
// segment being recorded now, to follow it up to the live edge. The
// recorder names its files storage.dir joined with the segment's relative
// name; vod names them by their real path (Resolve follows symbolic links,
// storage.dir may be relative): a path not found as is is mapped back
// through storage.dir. nil on nil recordings (nothing is followed).
func (r *recordings) openSegments(storageDir string, t vod.Target) func(string) bool {
	if r == nil {
		return nil
	}
	root := strings.TrimSuffix(t.Path, filepath.FromSlash(t.Rel))
	return func(p string) bool {
		if r.open.InUse(p) {
			return true
		}
		rel, err := filepath.Rel(root, p)
		return err == nil && r.open.InUse(filepath.Join(storageDir, rel))
	}
}

// start begins recording app/stream unless it is already being recorded
// (a publisher that came back within the grace period keeps its recorder).
func (r *recordings) start(app, stream string, ac AppConfig, storageDir string) {
	if !ac.Record.Enabled {
		return
	}
	key := app + "/" + stream
	r.mu.Lock()
	if _, ok := r.active[key]; ok || r.ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	sub := r.hub.Subscribe(app, stream, streamConfig(ac))
	sub.SetKind("recorder")
	rec := &activeRecording{stats: &recorder.Stats{}, sub: sub}
	r.active[key] = rec
	r.wg.Add(1)
	r.mu.Unlock()

	cfg := recorder.Config{
		Dir:             storageDir,
		PathTemplate:    ac.Record.Path,
		Format:          ac.Record.Format,
		SegmentDuration: ac.Record.Segment.Duration,
		SegmentMaxBytes: int64(ac.Record.Segment.MaxBytes),
		Fragment:        ac.Record.Fragment,
		SyncEvery:       ac.Record.SyncEvery,
		Logger:          r.log, // the recorder adds app, stream and format
		Stats:           rec.stats,
		Clock:           r.clock,
		Journal:         r.journal(storageDir),
		OnSegmentOpen:   r.open.Opened,
		OnSegmentDone: func(s recorder.Segment) {
			r.open.Done(s.OpenPath)
			r.segmentDone(storageDir, s)
			r.enqueueUpload(s)
			if h := r.hook(app, ac.Record.OnSegmentDone); h != nil {
				h.Run(s)
			}
		},
	}
	go func() {
		defer r.wg.Done()
		defer sub.Close()
		r.log.Info("recording started", "app", app, "stream", stream, "format", cfg.Format)
		err := recorder.Record(r.ctx, sub, app, stream, cfg)
		r.mu.Lock()
		delete(r.active, key)
		r.mu.Unlock()
		switch {
		case err == nil, errors.Is(err, hub.ErrEnded), errors.Is(err, hub.ErrClosed), errors.Is(err, context.Canceled):
			r.log.Info("recording stopped", "app", app, "stream", stream)
		default:
			r.log.Error("recording stopped", "app", app, "stream", stream, "err", err)
		}
	}()
}

// hook returns the app's segment hook, or nil when it has none. The hook
// is made once per app (its queue and concurrency bound are per app).
func (r *recordings) hook(app string, c SegmentHookConfig) *recorder.Hook {
	if c.URL == "" && len(c.Command) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hooks == nil {
		r.hooks = make(map[string]*recorder.Hook)
	}
	h := r.hooks[app]
	if h == nil || h.URL != c.URL || !slices.Equal(h.Command, c.Command) {
		h = &recorder.Hook{URL: c.URL, Command: c.Command, Timeout: c.Timeout, Logger: r.log.With("app", app), Follow: r.clock.Follow}
		r.hooks[app] = h
	}
	return h
}

// hookCounts sums runs, failures and drops of every hook.
func (r *recordings) hookCounts() (runs, failures, dropped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hooks {
		runs += h.Runs.Load()
		failures += h.Failures.Load()
		dropped += h.Dropped.Load()
	}
	return
}

// damageCheckEvery is how often the damage scanner looks for recordings
// it has not checked yet (new segments, files put there by hand).
const damageCheckEvery = 10 * time.Minute

// recover makes segments cut by a crash playable; run before recording.
// Closed recordings are only checked, and only those not checked before
// (the scanner's journal): a damaged one is logged once, ever.
func (r *recordings) recover(dir string) {
	scan := recorder.NewDamageScanner(dir, r.open.InUse, r.log)
	r.mu.Lock()
	r.scan = scan
	r.mu.Unlock()
	if _, err := os.Stat(dir); err != nil {
		return // nothing recorded yet
	}
	found, err := recorder.RecoverSkipping(dir, time.Now(), 0, scan.Known)
	if err != nil {
		r.log.Error("recovery of recordings failed", "dir", dir, "err", err)
	}
	for _, f := range found {
		if f.Action == recorder.RecoveredDamaged {
			if info, err := os.Stat(f.Path); err == nil {
				scan.Note(f.Path, info, f.Detail) // logs it, this once
				continue
			}
		}
		r.log.Warn(f.Message(), "path", f.Path, "action", f.Action, "detail", f.Detail)
	}
	r.mu.Lock()
	r.recovered = found
	r.mu.Unlock()
}

// checkRecordings runs the damage scanner of the start's storage
// directory in the background until shutdown.
func (r *recordings) checkRecordings() {
	r.mu.Lock()
	scan := r.scan
	if scan == nil || r.ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		scan.Run(r.ctx, damageCheckEvery)
	}()
}

// damaged returns why the recording s, listed by the index of dir, was
// found damaged, if it was.
func (r *recordings) damaged(dir string, s recorder.SegmentInfo) (string, bool) {
	r.mu.Lock()
	scan := r.scan
	r.mu.Unlock()
	if scan == nil || filepath.Clean(scan.Dir()) != filepath.Clean(dir) {
		return "", false // storage.dir changed by a reload: not scanned
	}
	return scan.Damaged(s.Path, s.Size, s.ModTime)
}

// recoveredByPath is what start-up recovery reported, by file path.
func (r *recordings) recoveredByPath() map[string]recorder.Recovered {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]recorder.Recovered, len(r.recovered))
	for _, f := range r.recovered {
		m[f.Path] = f
	}
	return m
}

// sweep applies retention: per app under dir/<app>, then storage-wide.
func (r *recordings) sweep(cfg *Config) {
	dir := cfg.Storage.Dir
	if _, err := os.Stat(dir); err != nil {
		return
	}
	now := r.clock.Now()
	run := func(where string, p recorder.Policy) {
		if p.MaxAge <= 0 && p.MaxBytes <= 0 && p.MinFree.IsZero() {
			return
		}
		p.Clock = r.clock
		p = r.uploadPolicy(p)
		deleted, freed, err := recorder.Sweep(where, p, r.open.InUse, now, nil)
		if err != nil {
			r.log.Warn("retention sweep", "dir", where, "err", err)
		}
		if len(deleted) > 0 {
			r.log.Info("retention deleted recordings", "dir", where, "files", len(deleted), "bytes", freed)
			r.mu.Lock()
			r.swept += int64(len(deleted))
			r.mu.Unlock()
		}
	}
	for name, ac := range cfg.Apps {
		if name == "*" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			run(filepath.Join(dir, name), recorder.Policy{MaxAge: ac.Record.MaxAge, MaxBytes: int64(ac.Record.MaxBytes)})
		}
	}
	run(dir, recorder.Policy{MaxAge: cfg.Storage.MaxAge, MaxBytes: int64(cfg.Storage.MaxBytes), MinFree: cfg.Storage.MinFree})
}

func (r *recordings) segmentDone(storageDir string, s recorder.Segment) {
	if s.Bytes == 0 {
		return // the file could not even be started; nothing to index
	}
	r.index(storageDir).Closed(s)
}

// index returns the recordings index of dir (storage.dir), made anew when
// a reload changed the directory.
func (r *recordings) index(dir string) *recorder.Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idx == nil || r.idx.Dir() != dir {
		r.idx = recorder.NewIndex(dir, r.open.InUse)
	}
	return r.idx
}

// journal returns the boot journal of dir (storage.dir), the same one for
// every recorder over it, also after a reload moved storage.dir away and
// back (recorders of the first stay on their journal).
func (r *recordings) journal(dir string) *recorder.BootJournal {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := filepath.Clean(dir)
	j := r.journals[key]
	if j == nil {
		if r.journals == nil {
			r.journals = make(map[string]*recorder.BootJournal)
		}
		j = recorder.NewBootJournal(dir)
		j.Logger = r.log
		r.journals[key] = j
	}
	return j
}

// stats returns the counters of app/stream's recorder, if it records.
func (r *recordings) stats(app, stream string) (recorder.StatsSnapshot, uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.active[app+"/"+stream]
	if !ok {
		return recorder.StatsSnapshot{}, 0, false
	}
	return rec.stats.Snapshot(), rec.sub.Skips(), true
}

// totals sums the counters of the running recorders.
func (r *recordings) totals() (recorder.StatsSnapshot, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t recorder.StatsSnapshot
	for _, rec := range r.active {
		s := rec.stats.Snapshot()
		t.Bytes += s.Bytes
		t.Segments += s.Segments
		t.WriteErrors += s.WriteErrors
		t.Dropped += s.Dropped
		t.SlowSyncs += s.SlowSyncs
		if s.Paused {
			t.Paused = true
		}
	}
	return t, len(r.active)
}

// stop ends every recorder, closing their segments, lets queued hooks
// finish, and waits until ctx ends.
func (r *recordings) stop(ctx context.Context) error {
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if up := r.uploader(); up != nil {
		up.Close()
	}
	r.mu.Lock()
	hooks := make([]*recorder.Hook, 0, len(r.hooks))
	for _, h := range r.hooks {
		hooks = append(hooks, h)
	}
	r.mu.Unlock()
	for _, h := range hooks {
		if err := h.Close(ctx); err != nil {
			return err
		}
	}
	return nil
}
