// Package pull ingests streams from IP cameras (RTSP/RTP) and other RTMP
// servers into the hub, where they are recorded, relayed and played like
// any publish. Each pulled stream has a worker that reconnects with
// backoff when the source goes away.
package pull

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/redact"
	"github.com/tapedeck/tapedeck/appliance/internal/retry"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Source is where a stream is pulled from.
type Source struct {
	// URL is rtsp://, rtsps://, rtmp:// or rtmps://, credentials as
	// user:pass@ (RTSP Basic or Digest).
	URL string
	// Transport is "tcp" (interleaved, the default) or "udp"; RTSP only.
	Transport string
	// OnDemand pulls only while the stream has players: the first player
	// (see Manager.Demand) starts the pull, and it stops IdleAfter after
	// the last one left. Off: pulled all the time (24/7 recording).
	OnDemand bool
	// CloseAfter overrides Options.IdleAfter for this on-demand pull.
	CloseAfter time.Duration
}

// Options tune a Manager. Zero values mean the defaults.
type Options struct {
	Logger *slog.Logger
	// StreamConfig returns the hub settings of an app (GOP cache, grace).
	// Default: GOP cache on.
	StreamConfig func(app string) hub.StreamConfig
	// OnPublish, if set, is called after a pulled stream went live in the
	// hub (the appliance starts its recorder and push targets there).
	OnPublish  func(app, stream string)
	MinBackoff time.Duration // first retry delay, 1s
	MaxBackoff time.Duration // retry delay cap, 30s
	// Timeout bounds dialling, each request, and silence from a source
	// that is playing; 10s.
	Timeout time.Duration
	// IdleAfter is how long an on-demand pull goes on without players
	// before it stops; 10s, so a player that reconnects finds it warm.
	IdleAfter time.Duration
	// TLSConfig is used (cloned) for rtsps:// and rtmps:// sources, e.g.
	// RootCAs with the system roots plus a camera's own CA; ServerName
	// defaults to the URL host. Nil: the system roots.
	TLSConfig *tls.Config
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StreamConfig == nil {
		o.StreamConfig = func(string) hub.StreamConfig { return hub.StreamConfig{GOPCache: true} }
	}
	o.MinBackoff, o.MaxBackoff = retry.Bounds(o.MinBackoff, o.MaxBackoff)
	o.Timeout = retry.Or(o.Timeout, retry.DefaultTimeout)
	o.IdleAfter = retry.Or(o.IdleAfter, 10*time.Second)
	return o
}

// Pull states.
const (
	StateConnecting = "connecting"
	StatePulling    = "pulling"
	StateBackoff    = "backoff"
	StateStopped    = "stopped"
	// StateIdle: an on-demand pull waiting for a player.
	StateIdle = "idle"
)

// Status describes one pulled stream.
type Status struct {
	App       string    `json:"app"`
	Stream    string    `json:"stream"`
	Kind      string    `json:"kind"` // rtsp or rtmp
	URL       string    `json:"url"`  // credentials redacted
	Transport string    `json:"transport,omitempty"`
	OnDemand  bool      `json:"on_demand,omitempty"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Retries   int       `json:"retries"`
	LastError string    `json:"last_error,omitempty"`
	Messages  uint64    `json:"messages"`
	BytesIn   uint64    `json:"bytes_in"`
}

// Manager runs the pulls.
type Manager struct {
	hub  *hub.Hub
	opts Options
	log  *slog.Logger
	pool *remux.Pool

	mu     sync.Mutex
	pulls  map[string]*puller
	closed bool
	wg     sync.WaitGroup
}

// NewManager returns a manager publishing into h.
func NewManager(h *hub.Hub, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{hub: h, opts: opts, log: opts.Logger, pool: remux.NewPool(), pulls: make(map[string]*puller)}
}

// Validate checks a source without connecting.
func Validate(src Source) error {
	u, err := url.Parse(src.URL)
	if err != nil {
		return fmt.Errorf("url: %v", errors.Unwrap(err))
	}
	switch u.Scheme {
	case "rtsp", "rtsps":
		switch src.Transport {
		case "", "tcp", "udp":
		default:
			return fmt.Errorf("transport %q: want tcp or udp", src.Transport)
		}
		if u.Scheme == "rtsps" && src.Transport == "udp" {
			// Media over UDP would be plain RTP beside the TLS control
			// connection: cameras use SRTP there, which we do not speak.
			return fmt.Errorf("transport %q: rtsps works over tcp only (rtsps with udp needs SRTP, which is not supported)", src.Transport)
		}
	case "rtmp", "rtmps":
		if src.Transport != "" && src.Transport != "tcp" {
			return fmt.Errorf("transport %q: only for rtsp", src.Transport)
		}
		if _, _, _, _, err := rtmp.ParseURL(src.URL); err != nil {
			return err
		}
	default:
		return fmt.Errorf("url %s: scheme must be rtsp, rtsps, rtmp or rtmps", redact.URL(src.URL))
	}
	if u.Host == "" {
		return fmt.Errorf("url %s: no host", redact.URL(src.URL))
	}
	return nil
}

// Start pulls src into app/name. A pull of app/name with another source
// is replaced; with the same source it keeps running.
func (m *Manager) Start(app, name string, src Source) error {
	if err := Validate(src); err != nil {
		return err
	}
	// The scheme in lower case: RTMPS:// must not be dialled without TLS
	// by code that looks for "rtmps:" (URL schemes are case-insensitive).
	if scheme, rest, ok := strings.Cut(src.URL, "://"); ok {
		src.URL = strings.ToLower(scheme) + "://" + rest
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("pull: manager closed")
	}
	k := app + "/" + name
	if p := m.pulls[k]; p != nil {
		if p.src == src {
			return nil
		}
		p.stop()
		delete(m.pulls, k)
	}
	kind, _, _ := strings.Cut(src.URL, ":")
	kind = strings.TrimSuffix(kind, "s")
	p := &puller{
		m: m, app: app, name: name, src: src, kind: kind, redacted: redact.URL(src.URL),
		done: make(chan struct{}), want: make(chan struct{}, 1), state: StateConnecting, since: time.Now(),
	}
	if kind == "rtsp" {
		p.transport = src.Transport
		if p.transport == "" {
			p.transport = "tcp"
		}
	}
	p.log = m.log.With("app", app, "stream", name, "pull", p.redacted)
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	m.pulls[k] = p
	m.wg.Add(1)
	go p.run(ctx)
	return nil
}

// Demand tells the manager a player wants app/name (call it after the
// player subscribed in the hub). It starts an idle on-demand pull of that
// stream and reports whether app/name is pulled at all.
func (m *Manager) Demand(app, name string) bool {
	m.mu.Lock()
	p := m.pulls[app+"/"+name]
	m.mu.Unlock()
	if p == nil {
		return false
	}
	if p.src.OnDemand {
		select {
		case p.want <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true
}

// Stop ends the pull of app/name; it reports whether there was one.
func (m *Manager) Stop(app, name string) bool {
	m.mu.Lock()
	p := m.pulls[app+"/"+name]
	delete(m.pulls, app+"/"+name)
	m.mu.Unlock()
	if p == nil {
		return false
	}
	p.stop()
	<-p.done
	return true
}

// Status returns every pull, sorted by app and stream.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	list := make([]Status, 0, len(m.pulls))
	for _, p := range m.pulls {
		list = append(list, p.status())
	}
	m.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		return list[i].App+"/"+list[i].Stream < list[j].App+"/"+list[j].Stream
	})
	return list
}

// Lookup returns the status of the pull of app/name.
func (m *Manager) Lookup(app, name string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pulls[app+"/"+name]; p != nil {
		return p.status(), true
	}
	return Status{}, false
}

// Close stops every pull and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	for k, p := range m.pulls {
		p.stop()
		delete(m.pulls, k)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// stableAfter is how long a session must have lasted for its loss to
// restart the backoff at MinBackoff.
const stableAfter = 10 * time.Second

// puller is the worker of one pulled stream.
type puller struct {
	m         *Manager
	app, name string
	src       Source
	kind      string
	transport string
	redacted  string
	log       *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}
	want      chan struct{} // Demand's wake-up of an idle on-demand pull

	msgs, bytes atomic.Uint64

	mu      sync.Mutex
	state   string
	since   time.Time
	retries int
	lastErr string
}

func (p *puller) stop() { p.cancel() }

func (p *puller) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{
		App: p.app, Stream: p.name, Kind: p.kind, URL: p.redacted, Transport: p.transport, OnDemand: p.src.OnDemand,
		State: p.state, Since: p.since, Retries: p.retries, LastError: p.lastErr,
		Messages: p.msgs.Load(), BytesIn: p.bytes.Load(),
	}
}

func (p *puller) setState(s string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != s {
		p.state, p.since = s, time.Now()
	}
	if err != nil {
		p.lastErr = p.scrub(err.Error())
	}
}

// scrub removes the secrets of the URL (password, query tokens, an RTMP
// stream key) from an error text.
func (p *puller) scrub(s string) string { return redact.Scrub(s, redact.Secrets(p.src.URL)) }

func (p *puller) run(ctx context.Context) {
	defer func() {
		p.setState(StateStopped, nil)
		close(p.done)
		p.m.wg.Done()
	}()
	if !p.src.OnDemand {
		p.pullLoop(ctx)
		p.log.Info("pull: stopped")
		return
	}
	for {
		if !p.waitDemand(ctx) {
			p.log.Info("pull: stopped")
			return
		}
		p.log.Info("pull: a player wants the stream, pulling on demand")
		active, idle := context.WithCancel(ctx)
		go p.watchDemand(active, idle)
		p.pullLoop(active)
		idle()
		if ctx.Err() != nil {
			p.log.Info("pull: stopped")
			return
		}
		p.log.Info("pull: no players left, going idle", "after", p.idleAfter())
	}
}

// players counts the stream's players in the hub.
func (p *puller) players() int {
	if s := p.m.hub.Lookup(p.app, p.name); s != nil {
		return s.Stats().Players
	}
	return 0
}

func (p *puller) idleAfter() time.Duration {
	if p.src.CloseAfter > 0 {
		return p.src.CloseAfter
	}
	return p.m.opts.IdleAfter
}

// waitDemand parks an on-demand pull until a player wants it; false when
// the pull was stopped meanwhile.
func (p *puller) waitDemand(ctx context.Context) bool {
	p.setState(StateIdle, nil)
	// A wake-up left from the active period is stale, but a player may
	// have subscribed just as that period ended: the hub decides.
	select {
	case <-p.want:
	default:
	}
	if p.players() > 0 {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.want:
		return true
	}
}

// watchDemand ends an on-demand pull (cancels it) once the stream has had
// no players for IdleAfter.
func (p *puller) watchDemand(ctx context.Context, idle context.CancelFunc) {
	after := p.idleAfter()
	tick := time.NewTicker(min(time.Second, after/4))
	defer tick.Stop()
	last := time.Now() // the player that woke us may still be connecting
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if p.players() > 0 {
				last = now
			} else if now.Sub(last) >= after {
				idle()
				return
			}
		}
	}
}

// pullLoop pulls, reconnecting with backoff, until ctx is done.
func (p *puller) pullLoop(ctx context.Context) {
	fails := 0
	for {
		p.setState(StateConnecting, nil)
		start := time.Now()
		var err error
		if p.kind == "rtsp" {
			err = p.runRTSP(ctx)
		} else {
			err = p.runRTMP(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > stableAfter {
			fails = 0
		}
		wait := retry.Backoff(fails, p.m.opts.MinBackoff, p.m.opts.MaxBackoff, retry.Jitter())
		fails++
		p.mu.Lock()
		p.retries++
		p.mu.Unlock()
		p.setState(StateBackoff, err)
		p.log.Warn("pull: source lost, retrying", "err", p.scrub(fmt.Sprint(err)), "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// publication wraps the hub publication of one session.
type publication struct {
	p   *puller
	pub *hub.Publication
}

func (p *puller) publish() (*publication, error) {
	pub, err := p.m.hub.Publish(p.app, p.name, p.m.opts.StreamConfig(p.app), p.kind+" "+p.redacted)
	if err != nil {
		return nil, err
	}
	p.setState(StatePulling, nil)
	p.mu.Lock()
	p.lastErr = ""
	p.mu.Unlock()
	p.log.Info("pull: pulling")
	if cb := p.m.opts.OnPublish; cb != nil {
		cb(p.app, p.name)
	}
	return &publication{p: p, pub: pub}, nil
}

func (pb *publication) write(m *remux.Message) {
	pb.p.msgs.Add(1)
	pb.p.bytes.Add(uint64(len(m.Payload)))
	pb.pub.Write(m)
}

// runRTMP plays the stream from another RTMP server until it fails.
func (p *puller) runRTMP(ctx context.Context) error {
	c, name, err := rtmp.Dial(ctx, p.src.URL, rtmp.ClientConfig{Timeout: p.m.opts.Timeout, Pool: p.m.pool, TLSConfig: p.m.opts.TLSConfig})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.NetConn().Close() })
	defer stop()
	defer func() { c.NetConn().Close(); c.Close() }()
	if err := c.Play(ctx, name); err != nil {
		return err
	}
	var pb *publication
	defer func() {
		if pb != nil {
			pb.pub.Close()
		}
	}()
	for {
		c.SetReadDeadline(time.Now().Add(p.m.opts.Timeout))
		m, err := c.ReadMedia()
		if err != nil {
			if errors.Is(err, rtmp.ErrStreamEnded) {
				return errors.New("rtmp: upstream stream ended")
			}
			return err
		}
		if pb == nil {
			if pb, err = p.publish(); err != nil {
				m.Release()
				return err
			}
		}
		pb.write(m)
	}
}
