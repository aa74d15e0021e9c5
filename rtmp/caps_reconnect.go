package rtmp

import (
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// Enhanced RTMP v2 reconnect (enhanced-rtmp.md §7): when the server shuts
// down, a client whose connect announced capsEx Reconnect is told
// NetConnection.Connect.ReconnectRequest before its connection closes, so
// it reconnects (to the same tcUrl: the request carries none) at once
// rather than after its own timeout, and keeps retrying until the server
// is back.

// reconnectGrace bounds how long Shutdown spends telling clients to
// reconnect: the requests go out in parallel, each write within it.
const reconnectGrace = time.Second

// noteReconnect remembers, at connect, that the client follows reconnect
// requests; Shutdown reads it from another goroutine.
func (c *conn) noteReconnect() {
	if c.info.Caps.Has(CapsExReconnect) {
		c.reconnect.Store(true)
	}
}

// requestReconnect sends the ReconnectRequest to a client that announced
// it, with a write deadline of by.
func (c *conn) requestReconnect(by time.Time) {
	if !c.reconnect.Load() {
		return
	}
	c.nc.SetWriteDeadline(by)
	err := c.sendAMF(csidCommand, 0, typeCommandAMF0, "onStatus", 0.0, nil, amf.Object{
		{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.ReconnectRequest"},
		{Key: "description", Value: "The server is shutting down; reconnect."},
	})
	if err != nil {
		c.log.Info("rtmp reconnect request not sent", "err", err)
		return
	}
	c.log.Info("rtmp reconnect request sent")
}

// requestReconnects tells every connection in conns that asked for it to
// reconnect, and returns within reconnectGrace.
func requestReconnects(conns []*conn) {
	by := time.Now().Add(reconnectGrace)
	var wg sync.WaitGroup
	for _, c := range conns {
		if c.reconnect.Load() {
			wg.Add(1)
			go func() { defer wg.Done(); c.requestReconnect(by) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(by)):
	}
}
