// Package appliance is the box itself: configuration, the stream hub, the
// RTMP server wiring, the HTTP API, start-up, reload and shutdown.
package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hls"
	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/pull"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
	"golang.org/x/net/netutil"
)

// Appliance is a running tapedeck.
type Appliance struct {
	log  *slog.Logger
	hub  *hub.Hub
	rtmp *rtmp.Server
	rec  *recordings
	push *relay.Manager
	pull *pull.Manager
	web  *webConsole // sign-ins, kept across reloads
	hls  *hls.Server

	mu  sync.RWMutex
	cfg *Config

	rtmpLn  net.Listener
	tlsLn   net.Listener
	httpLn  net.Listener
	httpSrv *http.Server
	done    chan error
	// stopWaits ends players' waits for a publisher (play_wait) at shutdown.
	stopWaits chan struct{}
}

// NewLogger builds the logger the config asks for.
func NewLogger(c LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// New prepares an appliance for cfg; Start opens its listeners.
func New(cfg *Config, log *slog.Logger) *Appliance {
	a := &Appliance{log: log, cfg: cfg, hub: hub.New(log)}
	a.rec = newRecordings(a.hub, log)
	a.web = a.newWebConsole()
	a.hls = a.newHLS()
	ro := relayOptions(cfg, log)
	a.push = relay.NewManager(a.hub, ro)
	a.pull = pull.NewManager(a.hub, pull.Options{
		Logger:     log,
		MinBackoff: cfg.Relay.MinBackoff,
		MaxBackoff: cfg.Relay.MaxBackoff,
		Timeout:    cfg.Relay.Timeout,
		// relay.ca_file (on top of the system roots) for rtsps and rtmps
		// sources too; each dial clones it.
		TLSConfig: ro.TLSConfig,
		StreamConfig: func(app string) hub.StreamConfig {
			ac, _ := a.config().App(app)
			return streamConfig(ac)
		},
		OnPublish: a.pullPublished,
	})
	h := &rtmpHandler{cfg: a.config, hub: a.hub, log: log, http: &http.Client{}, published: a.published, demand: a.pull.Demand, rec: a.rec}
	a.stopWaits = make(chan struct{})
	h.stopWaits = a.stopWaits
	l := cfg.RTMP.Limits
	a.rtmp = rtmp.NewServer(rtmp.ServerConfig{
		ChunkSize:           uint32(cfg.RTMP.ChunkSize),
		MaxMessageBytes:     uint32(l.MaxMessageBytes),
		MaxConnections:      l.MaxConnections,
		MaxConnectionsPerIP: l.MaxConnectionsPerIP,
		HandshakeTimeout:    l.HandshakeTimeout,
		CommandTimeout:      l.CommandTimeout,
		IdleTimeout:         l.IdleTimeout,
		WriteBatch:          cfg.RTMP.WriteBatch.server(),
		SharedWriter:        cfg.RTMP.SharedWriter,
		ReconnectURL:        cfg.RTMP.ReconnectURL,
		Logger:              log,
		Pool:                remux.NewPool(),
	}, h)
	return a
}

func (a *Appliance) config() *Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// Config returns the configuration in force.
func (a *Appliance) Config() *Config { return a.config() }

// Hub returns the stream hub.
func (a *Appliance) Hub() *hub.Hub { return a.hub }

// RTMPAddr returns the address the RTMP listener is bound to.
func (a *Appliance) RTMPAddr() net.Addr { return a.rtmpLn.Addr() }

// HTTPAddr returns the address of the HTTP API, or nil when disabled.
func (a *Appliance) HTTPAddr() net.Addr {
	if a.httpLn == nil {
		return nil
	}
	return a.httpLn.Addr()
}

// Start opens the listeners and serves in the background.
func (a *Appliance) Start() error {
	cfg := a.config()
	a.done = make(chan error, 3)
	// Before anything records: make what a crash cut playable.
	crashed := crashedSegments(cfg.Storage.Dir) // for the uploader, before recovery removes the markers
	a.rec.recover(cfg.Storage.Dir)
	a.rec.checkRecordings()
	a.startUploads(cfg, crashed)
	a.reconcileBoot(cfg)
	go a.sweepLoop()
	a.applyPulls(nil, cfg)
	ln, err := net.Listen("tcp", cfg.RTMP.Listen)
	if err != nil {
		return fmt.Errorf("rtmp.listen %s: %w", cfg.RTMP.Listen, err)
	}
	a.rtmpLn = ln
	a.log.Info("rtmp listening", "addr", ln.Addr().String(), "config", cfg.Source)
	go a.serveRTMP(ln)

	if t := cfg.RTMP.TLS; t.Listen != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("rtmp.tls: %w", err)
		}
		tln, err := tls.Listen("tcp", t.Listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("rtmp.tls.listen %s: %w", t.Listen, err)
		}
		a.tlsLn = tln
		a.log.Info("rtmps listening", "addr", tln.Addr().String())
		go a.serveRTMP(tln)
	}

	if cfg.HTTP.Listen != "" {
		hln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			a.closeListeners()
			return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		a.httpLn = hln
		a.httpSrv = a.newHTTPServer()
		a.log.Info("http api listening", "addr", hln.Addr().String())
		if n := cfg.HTTP.MaxConnections; n > 0 {
			hln = netutil.LimitListener(hln, n)
		}
		go func() {
			if err := a.httpSrv.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.done <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	return nil
}

func (a *Appliance) serveRTMP(ln net.Listener) {
	if err := a.rtmp.Serve(ln); err != nil && !errors.Is(err, rtmp.ErrServerClosed) {
		a.done <- fmt.Errorf("rtmp %s: %w", ln.Addr(), err)
	}
}

func (a *Appliance) closeListeners() {
	for _, ln := range []net.Listener{a.rtmpLn, a.tlsLn, a.httpLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// sweepLoop applies retention every storage.sweep_every until shutdown.
func (a *Appliance) sweepLoop() {
	for {
		a.rec.sweep(a.config())
		select {
		case <-time.After(a.config().Storage.SweepEvery):
		case <-a.rec.ctx.Done():
			return
		}
	}
}

// applyPulls starts the configured pulls and stops the ones a reload
// removed; unchanged pulls keep running.
func (a *Appliance) applyPulls(old, cfg *Config) {
	if old != nil {
		for app, ac := range old.Apps {
			for name := range ac.Pull {
				if _, ok := cfg.Apps[app].Pull[name]; !ok {
					a.pull.Stop(app, name)
				}
			}
		}
	}
	for app, ac := range cfg.Apps {
		for name, src := range ac.Pull {
			onDemand := src.OnDemand
			if onDemand && alwaysWanted(ac, name) {
				a.log.Info("pull: on_demand has no effect, the app records or pushes this stream all the time", "app", app, "stream", name)
				onDemand = false
			}
			if err := a.pull.Start(app, name, pull.Source{URL: src.URL, Transport: src.Transport, OnDemand: onDemand, CloseAfter: src.CloseAfter}); err != nil {
				a.log.Error("pull not started", "app", app, "stream", name, "err", err)
			}
		}
	}
}

// alwaysWanted reports whether the app's own consumers want a stream all
// the time: its recording or a push target that takes it. An on-demand
// pull of such a stream is pulled continuously, as they would be starved
// otherwise.
func alwaysWanted(ac AppConfig, stream string) bool {
	if ac.Record.Enabled {
		return true
	}
	for _, t := range ac.Push {
		if t.Matches(stream) {
			return true
		}
	}
	return false
}

// pullPublished starts the app's consumers for a pulled stream once it
// is live, like a publish does.
func (a *Appliance) pullPublished(app, stream string) {
	ac, ok := a.config().App(app)
	if ok {
		a.published(app, stream, ac)
	}
}

// Done delivers a fatal serving error.
func (a *Appliance) Done() <-chan error { return a.done }

// Reload applies a new configuration. App settings (auth, webhooks, GOP
// cache, grace) take effect for new publishes and plays; running streams
// are not touched. Listener addresses and limits need a restart, which is
// logged.
func (a *Appliance) Reload(cfg *Config) {
	a.mu.Lock()
	old := a.cfg
	a.cfg = cfg
	a.mu.Unlock()
	if old.RTMP != cfg.RTMP || old.HTTP.Listen != cfg.HTTP.Listen || old.Log != cfg.Log || relayNeedsRestart(old.Relay, cfg.Relay) {
		a.log.Warn("changes to rtmp, http.listen, log and relay take effect after a restart")
	}
	a.applyPushes(old, cfg)
	a.applyPulls(old, cfg)
	a.reloadUploads(old, cfg)
	a.log.Info("configuration reloaded", "source", cfg.Source, "apps", len(cfg.Apps))
}

// relayNeedsRestart reports a change to the relay settings the running
// pushers were made with; allow_targets is read at each API call instead.
func relayNeedsRestart(old, cfg RelayConfig) bool {
	return old.MinBackoff != cfg.MinBackoff || old.MaxBackoff != cfg.MaxBackoff ||
		old.Timeout != cfg.Timeout || old.CAFile != cfg.CAFile
}

// applyPushes applies the push targets of a reloaded config now, to
// running streams too; the publisher is not touched. Every app that is or
// was configured, or has a live stream or a pusher, gets the targets a
// publish to it would get now (Config.App: its own entry, else those of
// "*" — an app's own entry replaces "*" whole, push list included); an app
// that falls under neither gets an empty list.
func (a *Appliance) applyPushes(old, cfg *Config) {
	apps := make(map[string]bool)
	for name := range old.Apps {
		apps[name] = true
	}
	for name := range cfg.Apps {
		apps[name] = true
	}
	for _, name := range a.push.Apps() {
		apps[name] = true
	}
	for name := range apps {
		var targets []relay.Target
		if ac, ok := cfg.App(name); ok {
			targets = ac.Push
		}
		a.push.SetAppTargets(name, targets)
	}
}

// published is called once a publish starts: it starts what consumes the
// stream on the appliance's side (the recorder).
func (a *Appliance) published(app, stream string, ac AppConfig) {
	a.rec.start(app, stream, ac, a.config().Storage.Dir)
	if len(ac.Push) > 0 {
		a.push.StreamStarted(app, stream, ac.Push)
	}
}

// relayOptions builds the push settings; a CA file that no longer loads
// is logged and the system roots alone are used. Its TLSConfig is also
// the one of rtsps/rtmps pulls.
func relayOptions(cfg *Config, log *slog.Logger) relay.Options {
	opts := relay.Options{
		MinBackoff:   cfg.Relay.MinBackoff,
		MaxBackoff:   cfg.Relay.MaxBackoff,
		DialTimeout:  cfg.Relay.Timeout,
		WriteTimeout: cfg.Relay.Timeout,
		Logger:       log,
	}
	if cfg.Relay.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.Relay.CAFile)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			log.Error("relay.ca_file not usable; using system roots only", "file", cfg.Relay.CAFile, "err", err)
		} else {
			opts.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}
	return opts
}

// Shutdown stops accepting, disconnects clients, closes every recording
// segment cleanly and waits up to timeout.
func (a *Appliance) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if a.httpSrv != nil {
		a.httpSrv.Shutdown(ctx)
	}
	a.hls.Close()
	a.push.Close()
	a.pull.Close()
	select {
	case <-a.stopWaits: // shut down before
	default:
		close(a.stopWaits)
	}
	err := a.rtmp.Shutdown(ctx)
	if rerr := a.rec.stop(ctx); err == nil {
		err = rerr
	}
	return err
}
