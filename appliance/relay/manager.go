package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/retry"
)

// Options tune every pusher of a Manager. Zero values mean the defaults
// given beside each field.
type Options struct {
	MinBackoff time.Duration // first retry delay, 1s
	MaxBackoff time.Duration // retry delay cap, 30s
	// DialTimeout bounds a whole connection attempt: TCP, TLS, RTMP
	// handshake, connect and publish. 10s.
	DialTimeout time.Duration
	// WriteTimeout bounds each write to the upstream; a target that takes
	// longer is dropped and reconnected. 10s.
	WriteTimeout time.Duration
	// MaxLagBytes makes a pusher skip to the newest keyframe when what it
	// has to send in one go exceeds it. 0 leaves the bound to the hub
	// (the stream's MaxLagBytes/MaxLagTime, 4 MiB / 5 s by default).
	MaxLagBytes int64
	// TLSConfig is used for rtmps:// targets (RootCAs with a custom CA;
	// nil means the system roots). ServerName defaults to the URL host.
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

func (o Options) withDefaults() Options {
	o.MinBackoff, o.MaxBackoff = retry.Bounds(o.MinBackoff, o.MaxBackoff)
	o.DialTimeout = retry.Or(o.DialTimeout, retry.DefaultTimeout)
	o.WriteTimeout = retry.Or(o.WriteTimeout, retry.DefaultTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Errors of Add and Remove.
var (
	ErrNotLive  = errors.New("relay: stream is not live")
	ErrExists   = errors.New("relay: a target of that name is already pushed for this stream")
	ErrNotFound = errors.New("relay: no such push target for this stream")
	ErrClosed   = errors.New("relay: manager closed")
)

// Pusher states reported in Status.
const (
	StateConnecting   = "connecting"
	StateLive         = "live"
	StateBackoff      = "backoff"
	StateIncompatible = "incompatible"
	StateStopped      = "stopped"
)

// Status describes one pusher for the API and metrics.
type Status struct {
	Name      string
	URL       string // secrets redacted
	State     string // connecting, live, backoff, incompatible, stopped
	Since     time.Time
	Retries   int    // connection attempts after the first
	Skips     uint64 // times the pusher fell behind and skipped to a keyframe
	LastError string // secrets redacted
	BytesOut  uint64
	Runtime   bool // added through Add rather than the config
	// Refused is, while State is incompatible, the FourCC of the stream
	// the upstream's connect reply did not announce ("hvc1"): the stream
	// is not sent until its publisher comes back with codecs it takes.
	Refused string `json:",omitempty"`
	// Refusals counts the times the stream was refused that way.
	Refusals uint64
}

// StreamStatus is the pushers of one stream.
type StreamStatus struct {
	App, Stream string
	Targets     []Status
}

// Manager runs the pushers of every live stream.
type Manager struct {
	hub  *hub.Hub
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	closed  bool
	streams map[string]map[string]*pusher // "app/stream" → target name → pusher
	running map[*pusher]struct{}          // also those stopped but not yet gone
	wg      sync.WaitGroup
}

// NewManager returns a manager that pushes streams of h.
func NewManager(h *hub.Hub, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{hub: h, opts: opts, log: opts.Logger, streams: make(map[string]map[string]*pusher),
		running: make(map[*pusher]struct{})}
}

func key(app, stream string) string { return app + "/" + stream }

// StreamStarted is called when app/stream starts publishing: it starts a
// pusher for every target matching the stream that is not running for it
// yet. A running pusher with the same name and URL is left alone (a
// publisher that came back within the grace period keeps its pushes).
func (m *Manager) StreamStarted(app, stream string, targets []Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, t := range normalize(targets) {
		if t.Matches(stream) {
			m.ensureLocked(app, stream, t)
		}
	}
}

// SetAppTargets applies a reloaded target list for app to its live
// streams: new targets start, removed or changed ones stop (a changed one
// restarts), unchanged ones keep running. Neither the publisher nor the
// targets added at runtime are touched.
func (m *Manager) SetAppTargets(app string, targets []Target) {
	targets = normalize(targets)
	names := make(map[string]bool)
	for _, s := range m.hub.Streams() {
		if s.App() == app && s.Stats().Publishing {
			names[s.Name()] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	prefix := app + "/"
	for k := range m.streams {
		if strings.HasPrefix(k, prefix) {
			names[k[len(prefix):]] = true
		}
	}
	for stream := range names {
		want := make(map[string]Target)
		for _, t := range targets {
			if t.Matches(stream) {
				want[t.Name] = t
			}
		}
		for name, p := range m.streams[key(app, stream)] {
			if p.runtime {
				continue
			}
			if t, ok := want[name]; !ok || ExpandURL(t.URL, app, stream) != p.url {
				m.stopLocked(p)
			}
		}
		for _, t := range targets {
			if _, ok := want[t.Name]; ok {
				m.ensureLocked(app, stream, t)
			}
		}
	}
}

// Apps returns the apps that have a stream in the hub or a pusher running,
// sorted: those a reloaded target list may concern (a config with an app
// "*" applies its targets to apps it does not name).
func (m *Manager) Apps() []string {
	set := make(map[string]bool)
	for _, s := range m.hub.Streams() {
		set[s.App()] = true
	}
	m.mu.Lock()
	for _, ps := range m.streams {
		for _, p := range ps {
			set[p.app] = true
			break
		}
	}
	m.mu.Unlock()
	out := make([]string, 0, len(set))
	for app := range set {
		out = append(out, app)
	}
	sort.Strings(out)
	return out
}

// ensureLocked starts a config pusher for t unless one with the same name
// and URL runs; a config pusher of that name with another URL is replaced.
// A runtime target of that name wins over the config.
func (m *Manager) ensureLocked(app, stream string, t Target) {
	u := ExpandURL(t.URL, app, stream)
	if old := m.streams[key(app, stream)][t.Name]; old != nil {
		if old.runtime {
			m.log.Warn("relay: config push target shadowed by a runtime one of the same name",
				"app", app, "stream", stream, "target", t.Name)
			return
		}
		if old.url == u {
			return
		}
		m.stopLocked(old)
	}
	if err := t.Validate(); err != nil {
		m.log.Error("relay: bad push target", "app", app, "stream", stream, "target", t.Name, "err", err)
		return
	}
	m.startLocked(app, stream, t, u, false)
}

func (m *Manager) startLocked(app, stream string, t Target, u string, runtime bool) *pusher {
	p := newPusher(m, app, stream, t, u, runtime)
	if p == nil {
		return nil
	}
	k := key(app, stream)
	if m.streams[k] == nil {
		m.streams[k] = make(map[string]*pusher)
	}
	m.streams[k][t.Name] = p
	m.running[p] = struct{}{}
	m.wg.Add(1)
	go p.run()
	return p
}

func (m *Manager) stopLocked(p *pusher) {
	k := key(p.app, p.stream)
	if m.streams[k][p.target.Name] == p {
		delete(m.streams[k], p.target.Name)
		if len(m.streams[k]) == 0 {
			delete(m.streams, k)
		}
	}
	p.stop()
}

// exited is called by a pusher when it is done.
func (m *Manager) exited(p *pusher, ended bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.running, p)
	k := key(p.app, p.stream)
	if m.streams[k][p.target.Name] != p {
		return // stopped by the manager
	}
	delete(m.streams[k], p.target.Name)
	if len(m.streams[k]) == 0 {
		delete(m.streams, k)
	}
	// A publisher that started again just as the old session ended may
	// have had its StreamStarted skipped because this pusher still ran.
	if ended && !m.closed && !p.runtime {
		if s := m.hub.Lookup(p.app, p.stream); s != nil && s.Stats().Publishing {
			m.startLocked(p.app, p.stream, p.target, p.url, false)
		}
	}
}

// Add pushes the live stream app/stream to t as well, until Remove or the
// end of the stream; the config is not changed. An empty name is the URL's
// host (made unique).
func (m *Manager) Add(app, stream string, t Target) error {
	t.Streams = nil
	if err := t.Validate(); err != nil {
		return err
	}
	s := m.hub.Lookup(app, stream)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	k := key(app, stream)
	if (s == nil || !s.Stats().Publishing) && len(m.streams[k]) == 0 {
		return fmt.Errorf("%w: %s", ErrNotLive, k)
	}
	if t.Name == "" {
		taken := make(map[string]bool)
		for n := range m.streams[k] {
			taken[n] = true
		}
		t.Name = uniqueName(defaultName(t.URL), taken)
	} else if m.streams[k][t.Name] != nil {
		return fmt.Errorf("%w: %q", ErrExists, t.Name)
	}
	if m.startLocked(app, stream, t, ExpandURL(t.URL, app, stream), true) == nil {
		return fmt.Errorf("%w: %s", ErrNotLive, k)
	}
	return nil
}

// Remove stops the push of app/stream to the target name (a runtime one
// or one from the config, until the next publish or reload).
func (m *Manager) Remove(app, stream, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.streams[key(app, stream)][name]
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	m.stopLocked(p)
	return nil
}

// Status returns the pushers of app/stream, sorted by name.
func (m *Manager) Status(app, stream string) []Status {
	m.mu.Lock()
	ps := make([]*pusher, 0, len(m.streams[key(app, stream)]))
	for _, p := range m.streams[key(app, stream)] {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Streams returns the pushers of every stream (for metrics), sorted.
func (m *Manager) Streams() []StreamStatus {
	m.mu.Lock()
	type ref struct{ app, stream string }
	var refs []ref
	for _, ps := range m.streams {
		for _, p := range ps {
			refs = append(refs, ref{p.app, p.stream})
			break
		}
	}
	m.mu.Unlock()
	sort.Slice(refs, func(i, j int) bool {
		return key(refs[i].app, refs[i].stream) < key(refs[j].app, refs[j].stream)
	})
	out := make([]StreamStatus, 0, len(refs))
	for _, r := range refs {
		if st := m.Status(r.app, r.stream); len(st) > 0 {
			out = append(out, StreamStatus{App: r.app, Stream: r.stream, Targets: st})
		}
	}
	return out
}

// Close stops every pusher and waits for them (unpublishing politely for up
// to 2 s, then cutting the connections).
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	var all []*pusher
	for p := range m.running {
		all = append(all, p)
	}
	for _, p := range all {
		m.stopLocked(p)
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		for _, p := range all {
			p.cut()
		}
		<-done
	}
}
