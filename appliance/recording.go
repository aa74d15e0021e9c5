package appliance

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/recorder"
)

// recordings runs one recorder per recorded live stream, as a hub
// subscriber, and remembers the segments finished in this run.
type recordings struct {
	log    *slog.Logger
	hub    *hub.Hub
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	active   map[string]*activeRecording // by app/stream
	finished []recorder.Segment          // newest last, bounded
	total    recorder.Stats              // all recorders' counters
}

type activeRecording struct {
	stats *recorder.Stats
	sub   *hub.Subscriber
}

const maxFinishedSegments = 10000

func newRecordings(h *hub.Hub, log *slog.Logger) *recordings {
	ctx, cancel := context.WithCancel(context.Background())
	return &recordings{log: log, hub: h, ctx: ctx, cancel: cancel, active: make(map[string]*activeRecording)}
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
		Logger:          r.log.With("app", app, "stream", stream),
		Stats:           rec.stats,
		OnSegmentDone:   r.segmentDone,
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

func (r *recordings) segmentDone(s recorder.Segment) {
	r.log.Info("segment done", "path", s.Path, "duration", s.Duration.Round(time.Millisecond), "bytes", s.Bytes)
	r.mu.Lock()
	r.finished = append(r.finished, s)
	if len(r.finished) > maxFinishedSegments {
		r.finished = append(r.finished[:0], r.finished[len(r.finished)-maxFinishedSegments:]...)
	}
	r.mu.Unlock()
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
		if s.Paused {
			t.Paused = true
		}
	}
	return t, len(r.active)
}

// finishedSegments returns a copy of the segments closed in this run.
func (r *recordings) finishedSegments() []recorder.Segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorder.Segment(nil), r.finished...)
}

// stop ends every recorder, closing their segments, and waits until ctx ends.
func (r *recordings) stop(ctx context.Context) error {
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
