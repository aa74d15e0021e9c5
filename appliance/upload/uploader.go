package upload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/retry"
)

// Retry schedules: a failure that may pass (network, server) is retried
// soon with backoff; one that will not pass by itself (credentials,
// bucket, clock, TLS) on the slow schedule, or at once after a reload
// (Retry).
const (
	fastMin = 2 * time.Second
	fastMax = 5 * time.Minute
	slowMin = time.Minute
	slowMax = 30 * time.Minute
)

// Segment is a closed segment to upload.
type Segment struct {
	Path        string // as the recorder names it: storage.dir joined with its relative path
	App, Stream string
	Start       time.Time
}

// Options configure an Uploader.
type Options struct {
	Dir string // storage.dir: segments are below it, the journal in Dir/.uploads
	// Target returns the upload settings in force for app (read at each
	// attempt, so a reload applies to the backlog); ok false: app uploads
	// nothing (its jobs are dropped).
	Target func(app string) (t Target, ok bool, err error)
	Logger *slog.Logger
	// OnDeleted, if set, is told of each local file removed after its
	// verified upload (delete_after_upload).
	OnDeleted func(path string)
}

// Uploader uploads the journaled segments of one storage directory, one
// object at a time, oldest first; parts of one object go Concurrency at
// a time. Its methods are safe for concurrent use.
type Uploader struct {
	opts Options
	log  *slog.Logger
	jl   journal
	lim  limiter
	bufs buffers

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	// fastMin and fastMax bound the schedule of the failures that may
	// pass (the constants); tests that provoke such failures shorten it.
	fastMin, fastMax time.Duration

	saveMu sync.Mutex // serializes update's journal writes

	mu      sync.Mutex
	jobs    map[string]*job     // by rel
	clients map[string]*client  // by target name
	hold    map[string]holdInfo // targets on the slow schedule, by name
	current string              // rel being uploaded
	moved   map[string]moved    // segments renamed before their Enqueue, by old rel (Rename)
	st      counters
}

// holdInfo is a target waiting after a permanent failure.
type holdInfo struct {
	until time.Time
	n     int // permanent failures in a row
}

// New loads the journal of opts.Dir; Start begins uploading. A journal
// that is partly unreadable is loaded in part, and the error returned
// with the Uploader.
func New(opts Options) (*Uploader, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Uploader{
		opts: opts, log: log, jl: journal{dir: filepath.Join(opts.Dir, JournalDir)},
		ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		jobs: map[string]*job{}, clients: map[string]*client{}, hold: map[string]holdInfo{},
		fastMin: fastMin, fastMax: fastMax,
	}
	u.st.init()
	jobs, err := u.jl.load()
	for _, j := range jobs {
		u.jobs[j.Rel] = j
	}
	if len(jobs) > 0 {
		log.Info("upload backlog loaded", "segments", len(jobs), "dir", u.jl.dir)
	}
	return u, err
}

// Start runs the upload loop until Close.
func (u *Uploader) Start() { go u.run() }

// Close stops uploading and waits for the current request to be
// cancelled; what is not uploaded stays in the journal.
func (u *Uploader) Close() {
	u.cancel()
	<-u.done
}

// Enqueue journals s for upload, durably, when its app uploads. It
// fsyncs: call it off the recorder's write path.
func (u *Uploader) Enqueue(s Segment) error {
	if _, ok, _ := u.opts.Target(s.App); !ok {
		return nil
	}
	s, rel, err := u.follow(s) // renamed after a step of the wall clock meanwhile
	if err != nil {
		return err
	}
	info, err := os.Stat(s.Path)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	u.mu.Lock()
	old, queued := u.jobs[rel]
	same := queued && old.Size == info.Size() && old.ModTime.Equal(info.ModTime())
	u.mu.Unlock()
	if same {
		return nil // queued already: keep its progress
	}
	j := &job{Rel: rel, App: s.App, Stream: s.Stream, Start: s.Start, Size: info.Size(), ModTime: info.ModTime(), Enqueued: time.Now()}
	if err := u.jl.save(j); err != nil {
		return err
	}
	u.mu.Lock()
	u.jobs[rel] = j
	u.mu.Unlock()
	u.poke()
	return nil
}

// rel is path relative to the storage directory, with /.
func (u *Uploader) rel(path string) (string, error) {
	r, err := filepath.Rel(u.opts.Dir, path)
	if err != nil || r == ".." || len(r) > 2 && r[:3] == ".."+string(filepath.Separator) {
		return "", fmt.Errorf("upload: %s is not under %s", path, u.opts.Dir)
	}
	return filepath.ToSlash(r), nil
}

// Pending reports whether path (as Sweep names it) waits for its upload:
// retention keeps it unless the free-space floor needs its room.
func (u *Uploader) Pending(path string) bool {
	rel, err := u.rel(path)
	if err != nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.jobs[rel]
	return ok
}

// Lost is told by retention that it deleted path before its upload (the
// free-space floor): the job goes, and the loss is counted and logged.
func (u *Uploader) Lost(path string, size int64) {
	rel, err := u.rel(path)
	if err != nil {
		return
	}
	u.drop(rel, size, "deleted by retention (storage.min_free) before it was uploaded")
}

// drop removes the job of rel as lost.
func (u *Uploader) drop(rel string, size int64, why string) {
	u.mu.Lock()
	j, ok := u.jobs[rel]
	if ok {
		delete(u.jobs, rel)
		u.st.lost++
		u.st.lostBytes += size
	}
	u.mu.Unlock()
	if !ok {
		return
	}
	u.log.Error("segment lost before upload", "path", rel, "bytes", size, "why", why, "upload_id", j.UploadID != "")
	if err := u.jl.remove(rel); err != nil {
		u.log.Error("upload journal", "err", err)
	}
}

// Retry ends every wait: after a reload, the backlog is tried at once
// with the settings in force.
func (u *Uploader) Retry() {
	u.mu.Lock()
	clear(u.hold)
	for _, j := range u.jobs {
		j.nextTry = time.Time{}
	}
	u.mu.Unlock()
	u.poke()
}

func (u *Uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// run uploads due jobs until Close.
func (u *Uploader) run() {
	defer close(u.done)
	for u.ctx.Err() == nil {
		j, t, wait, err := u.next()
		if err != nil {
			u.fail(j, t, err)
			continue
		}
		if j == nil {
			tm := time.NewTimer(wait)
			select {
			case <-u.wake:
			case <-tm.C:
			case <-u.ctx.Done():
			}
			tm.Stop()
			continue
		}
		err = u.attempt(j, t)
		u.mu.Lock()
		u.current = ""
		u.mu.Unlock()
		if err != nil && u.ctx.Err() == nil {
			u.fail(j, t, err)
		}
	}
}

// next returns the oldest due job and its settings (or the error that
// resolving them gave), or how long to wait. Settings are resolved once
// per app, outside the lock (a secret file is read).
func (u *Uploader) next() (*job, Target, time.Duration, error) {
	type resolved struct {
		t   Target
		ok  bool
		err error
	}
	byApp := map[string]*resolved{}
	u.mu.Lock()
	for _, j := range u.jobs {
		byApp[j.App] = nil
	}
	u.mu.Unlock()
	for app := range byApp {
		r := &resolved{}
		r.t, r.ok, r.err = u.opts.Target(app)
		if r.err != nil {
			r.ok, r.t = true, Target{Name: "upload settings of app " + app}
		}
		byApp[app] = r
	}

	now := time.Now()
	wait := time.Minute
	var best *job
	var drops []string
	u.mu.Lock()
	for _, j := range u.jobs {
		r := byApp[j.App]
		if r == nil {
			continue // enqueued since: next round
		}
		if !r.ok {
			drops = append(drops, j.Rel)
			continue
		}
		due := j.nextTry
		if h, held := u.hold[r.t.Name]; held && h.until.After(due) {
			due = h.until
		}
		if due.After(now) {
			wait = min(wait, due.Sub(now))
			continue
		}
		if best == nil || j.Enqueued.Before(best.Enqueued) || j.Enqueued.Equal(best.Enqueued) && j.Rel < best.Rel {
			best = j
		}
	}
	for _, rel := range drops {
		delete(u.jobs, rel)
	}
	if best != nil && byApp[best.App].err == nil {
		u.current = best.Rel
	}
	u.mu.Unlock()
	for _, rel := range drops {
		u.log.Warn("upload dropped: the app no longer uploads", "path", rel)
		if err := u.jl.remove(rel); err != nil {
			u.log.Error("upload journal", "err", err)
		}
	}
	if best == nil {
		return nil, Target{}, wait, nil
	}
	r := byApp[best.App]
	if r.err != nil {
		return best, r.t, 0, &Error{Reason: ReasonConfig, Err: r.err}
	}
	return best, r.t, 0, nil
}

// client returns the client for t, made anew when its settings changed.
func (u *Uploader) client(t Target) (*client, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c, ok := u.clients[t.Name]; ok && c.t.same(t) {
		c.t = t // bucket, prefix and part settings are read per request
		return c, nil
	}
	c, err := newClient(t)
	if err != nil {
		return nil, err
	}
	u.clients[t.Name] = c
	return c, nil
}

// fail records a failed attempt and schedules the next one.
func (u *Uploader) fail(j *job, t Target, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Reason: ReasonLocal, Err: err}
	}
	now := time.Now()
	u.mu.Lock()
	j.Attempts++
	j.LastError, j.Reason, j.target = e.Error(), e.Reason, t.Name
	u.st.failures[e.Reason]++
	u.st.lastErr = &ErrorInfo{Time: now, Path: j.Rel, Target: t.Name, Reason: e.Reason, Message: e.Error()}
	var wait time.Duration
	if e.permanent() {
		h := u.hold[t.Name]
		wait = retry.Backoff(h.n, slowMin, slowMax, retry.Jitter())
		h.n++
		h.until = now.Add(wait)
		u.hold[t.Name] = h
	} else {
		wait = retry.Backoff(j.Attempts-1, u.fastMin, u.fastMax, retry.Jitter())
		j.nextTry = now.Add(wait)
	}
	_, still := u.jobs[j.Rel]
	snapshot := *j
	u.mu.Unlock()
	level := slog.LevelWarn
	if e.permanent() {
		level = slog.LevelError
	}
	u.log.Log(u.ctx, level, "upload failed", "path", j.Rel, "target", t.Name, "reason", e.Reason,
		"err", e.Err, "attempt", snapshot.Attempts, "retry_in", wait.Round(time.Second))
	if still {
		if err := u.jl.save(&snapshot); err != nil {
			u.log.Error("upload journal", "err", err)
		}
	}
}

// attempt uploads one job; nil when the object is verified in the bucket.
func (u *Uploader) attempt(j *job, t Target) error {
	path := filepath.Join(u.opts.Dir, filepath.FromSlash(j.Rel))
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		u.drop(j.Rel, j.Size, "the file is gone")
		return nil
	}
	if err != nil {
		return &Error{Reason: ReasonLocal, Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return &Error{Reason: ReasonLocal, Err: err}
	}
	c, err := u.client(t)
	if err != nil {
		return err
	}
	u.lim.setRate(t.MaxRate)
	if info.Size() != j.Size || !info.ModTime().Equal(j.ModTime) {
		// Changed since it was journaled (rewritten by recovery): start over.
		u.log.Warn("segment changed since it was queued; uploading it anew", "path", j.Rel, "bytes", info.Size())
		if j.UploadID != "" {
			c.abort(u.ctx, j.Key, j.UploadID)
		}
		u.update(j, func(j *job) { j.Size, j.ModTime, j.UploadID, j.Parts = info.Size(), info.ModTime(), "", nil })
	}
	t0 := time.Now()
	if j.UploadID == "" && j.Size <= t.partSize() {
		err = u.putWhole(c, j, f)
	} else {
		err = u.putMultipart(c, j, f, t)
	}
	if err != nil {
		return err
	}
	u.done1(j, t, path, time.Since(t0))
	return nil
}

// update journals j changed by change, then applies the change: what
// the status shows (parts acknowledged) is on disk already. Updates of
// one job are serialized, so the journal's order is the memory's.
func (u *Uploader) update(j *job, change func(*job)) error {
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	u.mu.Lock()
	next := *j
	next.Parts = append([]part(nil), j.Parts...)
	u.mu.Unlock()
	change(&next)
	if err := u.jl.save(&next); err != nil {
		return &Error{Reason: ReasonLocal, Err: err}
	}
	u.mu.Lock()
	change(j)
	u.mu.Unlock()
	return nil
}

// done1 finishes a verified upload: the job leaves the journal first
// (a crash after that leaves at most a local file that is already in the
// bucket), then, with delete_after_upload, the local file, and only then
// the memory: the API shows it pending until both are done.
func (u *Uploader) done1(j *job, t Target, path string, took time.Duration) {
	if err := u.jl.remove(j.Rel); err != nil {
		u.log.Error("upload journal", "err", err)
	}
	if t.DeleteAfterUpload {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("uploaded segment not deleted", "path", j.Rel, "err", err)
		} else if u.opts.OnDeleted != nil {
			u.opts.OnDeleted(path)
		}
	}
	u.mu.Lock()
	delete(u.jobs, j.Rel)
	u.st.uploaded++
	u.st.uploadedBytes += j.Size
	delete(u.hold, t.Name)
	u.mu.Unlock()
	u.log.Info("segment uploaded", "path", j.Rel, "bucket", t.Bucket, "key", j.Key, "bytes", j.Size,
		"took", took.Round(time.Millisecond), "attempts", j.Attempts+1)
}
