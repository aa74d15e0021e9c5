// Package appliance is the box itself: configuration, the stream hub, the
// RTMP server wiring, and start-up and shutdown.
package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Appliance is a running tapedeck.
type Appliance struct {
	log  *slog.Logger
	hub  *hub.Hub
	rtmp *rtmp.Server

	mu  sync.RWMutex
	cfg *Config

	rtmpLn net.Listener
	done   chan error
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
	h := &rtmpHandler{cfg: a.config, hub: a.hub, log: log, http: &http.Client{}}
	l := cfg.RTMP.Limits
	a.rtmp = rtmp.NewServer(rtmp.ServerConfig{
		ChunkSize:        uint32(cfg.RTMP.ChunkSize),
		MaxMessageBytes:  uint32(l.MaxMessageBytes),
		MaxConnections:   l.MaxConnections,
		HandshakeTimeout: l.HandshakeTimeout,
		IdleTimeout:      l.IdleTimeout,
		WriteBatch:       cfg.RTMP.WriteBatch,
		Logger:           log,
		Pool:             remux.NewPool(),
	}, h)
	return a
}

func (a *Appliance) config() *Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// Hub returns the stream hub.
func (a *Appliance) Hub() *hub.Hub { return a.hub }

// RTMPAddr returns the address the RTMP listener is bound to.
func (a *Appliance) RTMPAddr() net.Addr { return a.rtmpLn.Addr() }

// Start opens the listeners and serves in the background.
func (a *Appliance) Start() error {
	ln, err := net.Listen("tcp", a.cfg.RTMP.Listen)
	if err != nil {
		return fmt.Errorf("rtmp.listen %s: %w", a.cfg.RTMP.Listen, err)
	}
	a.rtmpLn = ln
	a.done = make(chan error, 1)
	a.log.Info("rtmp listening", "addr", ln.Addr().String(), "config", a.cfg.Source)
	go func() {
		err := a.rtmp.Serve(ln)
		if errors.Is(err, rtmp.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	return nil
}

// Done delivers the serving error, or nil after a clean shutdown.
func (a *Appliance) Done() <-chan error { return a.done }

// Shutdown stops accepting, disconnects clients and waits up to timeout.
func (a *Appliance) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.rtmp.Shutdown(ctx)
}
