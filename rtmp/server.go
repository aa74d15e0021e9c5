package rtmp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// ServerConfig sets the limits and tuning of a Server. Zero values mean the
// defaults named beside each field.
type ServerConfig struct {
	ChunkSize       uint32 // outbound chunk size, DefaultChunkSize
	MaxMessageBytes uint32 // largest inbound message, DefaultMaxMessageBytes
	MaxChunkSize    uint32 // largest Set Chunk Size accepted, DefaultMaxChunkSize
	MaxConnections  int    // 0 = unlimited
	// MaxConnectionsPerIP bounds the connections of one client address
	// (an IPv4 address or an IPv6 /64); 0 = unlimited.
	MaxConnectionsPerIP int
	HandshakeTimeout    time.Duration // 10s
	// CommandTimeout is how long a client may take to send connect after
	// the handshake, and publish or play after connect; 5s, and never more
	// than IdleTimeout.
	CommandTimeout time.Duration
	// IdleTimeout: 60s without media (publishers and connections doing
	// nothing) or without write progress (players). Control messages
	// (pings, acks, chunk sizes) do not count as activity.
	IdleTimeout time.Duration
	// WriteBatch is the merge window for players. 0 (the default) adapts
	// it: none while the players are few, so a message leaves as soon as it
	// arrives; once players × the cost of a write would take more than a
	// quarter of a core, a message that comes within the window (capped at
	// 40 ms) of a player's last write waits out the rest of it and leaves
	// with what came meanwhile, in one vectored write (a player of a
	// recording waits it out after its write). A positive value is a fixed
	// window waited after every write; NoWriteBatch sends every message at
	// once whatever the load.
	WriteBatch time.Duration
	// SharedWriter has one writer goroutine per stream write to the
	// players that keep up, with non-blocking writes (fanout.go; linux).
	// The appliance turns it on by default (rtmp.shared_writer); the zero
	// ServerConfig keeps a goroutine writing for each player.
	SharedWriter  bool
	WindowAckSize uint32 // 2_500_000
	// ReconnectURL is the tcUrl a NetConnection.Connect.ReconnectRequest
	// points clients to (absolute, or relative like "//host/app", which
	// the client resolves against its own); empty: the tcUrl the client
	// connected with, so it comes back here.
	ReconnectURL string
	Logger       *slog.Logger
	Pool         *remux.Pool // shared buffer pool; a private one if nil
}

func (c *ServerConfig) withDefaults() ServerConfig {
	cfg := *c
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxChunkSize == 0 {
		cfg.MaxChunkSize = DefaultMaxChunkSize
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	// Waiting for a command is never allowed longer than idling.
	cfg.CommandTimeout = min(cfg.CommandTimeout, cfg.IdleTimeout)
	if cfg.WindowAckSize == 0 {
		cfg.WindowAckSize = 2_500_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Pool == nil {
		cfg.Pool = remux.NewPool()
	}
	return cfg
}

// Server accepts RTMP connections and hands their requests to a Handler.
type Server struct {
	cfg     ServerConfig
	handler Handler

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perAddr   map[netip.Prefix]int // open connections by clientKey
	closed    bool
	refusals  *refusalLog
	wg        sync.WaitGroup

	accepted atomic.Uint64
	refused  atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64

	pacer writePacer // merge window of every player
	fan   fanout     // the streams' shared writers (fanout.go)
}

// Stats are server-wide counters for metrics.
type Stats struct {
	Connections int    // open now
	Accepted    uint64 // connections accepted since start
	Refused     uint64 // connections closed at once by a connection limit
	BytesIn     uint64
	BytesOut    uint64
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.Connections(),
		Accepted:    s.accepted.Load(),
		Refused:     s.refused.Load(),
		BytesIn:     s.bytesIn.Load(),
		BytesOut:    s.bytesOut.Load(),
	}
}

// NewServer returns a server that serves h with cfg.
func NewServer(cfg ServerConfig, h Handler) *Server {
	s := &Server{
		cfg:       cfg.withDefaults(),
		handler:   h,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		perAddr:   make(map[netip.Prefix]int),
	}
	s.refusals = newRefusalLog(s.cfg.Logger, refusalLogEvery)
	s.pacer.fixed = s.cfg.WriteBatch
	return s
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("rtmp: server closed")

// Serve accepts connections on ln until it fails or the server is closed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyOpenFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("rtmp accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.accepted.Add(1)
		key := clientKey(nc.RemoteAddr())
		c, reason, limit := s.track(nc, key)
		if c == nil {
			nc.Close()
			if reason != "" {
				s.refused.Add(1)
				s.refusals.refused(key, reason, limit)
			}
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// track registers a new connection, or names the limit that refuses it
// ("" when the server is closing).
func (s *Server) track(nc net.Conn, key netip.Prefix) (c *conn, reason string, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, "", 0
	case s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections:
		return nil, "max_connections", s.cfg.MaxConnections
	case key.IsValid() && s.cfg.MaxConnectionsPerIP > 0 && s.perAddr[key] >= s.cfg.MaxConnectionsPerIP:
		return nil, "max_connections_per_ip", s.cfg.MaxConnectionsPerIP
	}
	c = newConn(s, nc)
	c.key = key
	s.conns[c] = struct{}{}
	if key.IsValid() {
		s.perAddr[key]++
	}
	s.wg.Add(1)
	return c, "", 0
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.key.IsValid() {
		if s.perAddr[c.key]--; s.perAddr[c.key] <= 0 {
			delete(s.perAddr, c.key)
		}
	}
	s.mu.Unlock()
}

// Connections reports the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting, closes every connection and waits for their
// goroutines to finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	requestReconnects(conns)
	for _, c := range conns {
		c.close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
