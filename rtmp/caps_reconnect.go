package rtmp

import (
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// Enhanced RTMP v2 reconnect (enhanced-rtmp.md §7): when the server shuts
// down, or an operator kicks a publisher asking it to come back, a client
// whose connect announced capsEx Reconnect is told
// NetConnection.Connect.ReconnectRequest before its connection closes, so
// it reconnects at once rather than after its own timeout, and keeps
// retrying until the server is back. The request carries a tcUrl:
// ServerConfig.ReconnectURL, or the client's own.

// reconnectGrace bounds how long Shutdown spends telling clients to
// reconnect: the requests go out in parallel, each write within it.
const reconnectGrace = time.Second

// Descriptions of the ReconnectRequest, by what caused it.
const (
	reconnectShutdown = "The server is shutting down; reconnect."
	reconnectKick     = "The server closes this connection; reconnect."
)

// noteReconnect remembers, at connect, that the client follows reconnect
// requests; Shutdown reads it from another goroutine.
func (c *conn) noteReconnect() {
	if c.info.Caps.Has(CapsExReconnect) {
		c.reconnect.Store(true)
	}
}

// reconnectTcURL is the tcUrl a ReconnectRequest gives: the configured
// one, else the one the client connected with (read once connect is
// done: noteReconnect's Store orders it for other goroutines).
func (c *conn) reconnectTcURL() string {
	if c.cfg.ReconnectURL != "" {
		return c.cfg.ReconnectURL
	}
	return c.info.TcURL
}

// requestReconnect sends the ReconnectRequest to a client that announced
// it, with a write deadline of by; it reports whether it was sent.
func (c *conn) requestReconnect(by time.Time, description string) bool {
	if !c.reconnect.Load() {
		return false
	}
	info := amf.Object{
		{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.ReconnectRequest"},
		{Key: "description", Value: description},
	}
	if u := c.reconnectTcURL(); u != "" {
		info = append(info, amf.Property{Key: "tcUrl", Value: u})
	}
	c.nc.SetWriteDeadline(by)
	if err := c.sendAMF(csidCommand, 0, typeCommandAMF0, "onStatus", 0.0, nil, info); err != nil {
		c.log.Info("rtmp reconnect request not sent", "err", err)
		return false
	}
	// The tcUrl is not logged: the client's may carry its key.
	c.log.Info("rtmp reconnect request sent", "configured_url", c.cfg.ReconnectURL != "")
	return true
}

// Kick closes the client's connection (to kick a publisher). With
// reconnect, a client that announced capsEx Reconnect is first told
// NetConnection.Connect.ReconnectRequest, so it comes back at once (or
// goes to ServerConfig.ReconnectURL); it reports whether it was told.
func (ci *ConnInfo) Kick(reconnect bool) bool {
	if ci.conn == nil {
		return false
	}
	sent := reconnect && ci.conn.requestReconnect(time.Now().Add(reconnectGrace), reconnectKick)
	ci.conn.close()
	return sent
}

// requestReconnects tells every connection in conns that asked for it to
// reconnect, and returns within reconnectGrace.
func requestReconnects(conns []*conn) {
	by := time.Now().Add(reconnectGrace)
	var wg sync.WaitGroup
	for _, c := range conns {
		if c.reconnect.Load() {
			wg.Add(1)
			go func() { defer wg.Done(); c.requestReconnect(by, reconnectShutdown) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(by)):
	}
}
