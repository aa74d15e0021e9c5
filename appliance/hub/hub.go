// Package hub is the meeting point of publishers and consumers: one Stream
// per app/name, holding the codec headers, the GOP cache and the cursors of
// every subscriber (players, recorder, relays) in a single ring of shared,
// reference-counted media messages.
package hub

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Errors returned by Publish and Subscribe.
var (
	ErrStreamBusy = errors.New("hub: stream is already being published")
	ErrClosed     = errors.New("hub: subscription closed")
	ErrEnded      = errors.New("hub: stream ended")
)

// StreamConfig is the per-app behaviour of a stream.
type StreamConfig struct {
	// GOPCache starts new subscribers at the last keyframe (instant start)
	// rather than waiting for the next one.
	GOPCache bool
	// RepublishGrace keeps subscribers attached this long after the
	// publisher left, so a reconnecting encoder does not lose its audience.
	RepublishGrace time.Duration
	// MaxLagBytes and MaxLagTime bound how far a subscriber may fall behind
	// the live edge before it skips to a keyframe (defaults 4 MiB, 5 s).
	MaxLagBytes int64
	MaxLagTime  time.Duration
	// MaxGOPBytes bounds the GOP cache (default 16 MiB).
	MaxGOPBytes int64
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.MaxLagBytes <= 0 {
		c.MaxLagBytes = 4 << 20
	}
	if c.MaxLagTime <= 0 {
		c.MaxLagTime = 5 * time.Second
	}
	if c.MaxGOPBytes <= 0 {
		c.MaxGOPBytes = 16 << 20
	}
	return c
}

// Hub holds the live streams.
type Hub struct {
	log     *slog.Logger
	mu      sync.Mutex
	streams map[string]*Stream
}

// New returns an empty hub.
func New(log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{log: log, streams: make(map[string]*Stream)}
}

func streamKey(app, name string) string { return app + "/" + name }

// stream returns the entry for app/name, creating it.
func (h *Hub) stream(app, name string, cfg StreamConfig) *Stream {
	key := streamKey(app, name)
	s := h.streams[key]
	if s == nil {
		s = newStream(h, app, name, cfg.withDefaults())
		h.streams[key] = s
	}
	return s
}

// Publish registers a publisher for app/name. A stream has at most one
// publisher; a second one gets ErrStreamBusy.
func (h *Hub) Publish(app, name string, cfg StreamConfig, source string) (*Publication, error) {
	h.mu.Lock()
	s := h.stream(app, name, cfg)
	h.mu.Unlock()
	return s.startPublish(cfg.withDefaults(), source)
}

// Subscribe attaches a consumer to app/name. When nobody publishes it yet,
// the subscriber waits for a publisher.
func (h *Hub) Subscribe(app, name string, cfg StreamConfig) *Subscriber {
	h.mu.Lock()
	s := h.stream(app, name, cfg)
	sub := s.addSubscriber()
	h.mu.Unlock()
	return sub
}

// Lookup returns the stream app/name if it exists.
func (h *Hub) Lookup(app, name string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[streamKey(app, name)]
}

// Streams returns every stream, sorted by app and name.
func (h *Hub) Streams() []*Stream {
	h.mu.Lock()
	list := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		list = append(list, s)
	}
	h.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	return list
}

// removeIfIdle drops s from the hub when it has neither publisher nor subscribers.
func (h *Hub) removeIfIdle(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publishing || len(s.subs) > 0 || h.streams[s.key] != s {
		return
	}
	delete(h.streams, s.key)
	s.releaseAllLocked()
}
