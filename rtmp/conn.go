package rtmp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// conn is the server side of one client connection. Its reader goroutine
// runs the command state machine and feeds publishers; each playing stream
// has a writer goroutine. Writes from both are serialised by wmu.
type conn struct {
	srv *Server
	cfg *ServerConfig
	// The write state, guarded by wmu, comes first, by srv and cfg: the
	// shared writer touches these per player per message (fanout.go), and
	// in one cache line they cost one miss where spread out they cost three.
	wmu     sync.Mutex
	wclosed bool
	wdl     time.Time // when the write deadline was last pushed out
	cw      chunkWriter
	ctl     []byte // scratch for control and command messages

	nc  net.Conn
	log *slog.Logger // with the app from connect on (commands.go)
	// baseLog is log without the app, for the streams whose request
	// resolved to another app (streamLog).
	baseLog *slog.Logger
	// wire reads the socket in 64 KiB reads into a buffer held only while
	// it has unread bytes (wire_reader.go); br, the 1 KiB buffer above it,
	// is pooled and nil while the reader waits in waitIdle.
	wire io.Reader
	br   *bufio.Reader
	cr   *ChunkReader
	// rc waits for the socket to be readable (conn_idle.go); nil when the
	// connection cannot (TLS), rcTried once that was looked at.
	rc      syscall.RawConn
	rcTried bool
	// inCommand is set while a command runs on its own goroutine, and
	// launched is the player it started, for command to launch.
	inCommand bool
	launched  *player

	info       ConnInfo
	connected  bool
	peerWindow uint32 // the peer's window ack size
	lastAck    uint64
	nextStream uint32
	streams    map[uint32]*netStream // by message stream id

	// key is the client address the per-address limit counts.
	key netip.Prefix
	// The read deadline of a connection that is not only playing:
	// activeAt + activeLimit. Only progress moves it — connect, a publish
	// or play starting, media from a publisher — never control messages,
	// so a client cannot hold a slot with pings and window acks.
	activeAt    time.Time
	activeLimit time.Duration
	activeWhat  string    // what the client failed to do when it expires
	rdl         time.Time // the read deadline in force; zero: none
	rdlStale    bool      // rdl must be set again before the next read

	closeOnce sync.Once
	// ended is what ended the read loop, for the "play ended" line.
	ended     atomic.Pointer[error]
	reconnect atomic.Bool // the client announced capsEx Reconnect (caps_reconnect.go)
}

// netStream is one NetStream (message stream id) of a connection.
type netStream struct {
	id        uint32
	name      string
	log       *slog.Logger // for its publish or play lines (streamLog); nil: the connection's
	publisher Publisher
	player    *player
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv:     s,
		cfg:     &s.cfg,
		nc:      nc,
		log:     s.cfg.Logger.With("remote", nc.RemoteAddr().String()),
		cw:      chunkWriter{chunkSize: 128},
		streams: make(map[uint32]*netStream),
	}
}

// close tears the connection down; safe to call from any goroutine.
func (c *conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

func (c *conn) serve() {
	// Close the socket first so players blocked in a write return at once,
	// then stop the streams. The work is in start and finish, so that
	// serve's own frame, under every frame of the reader goroutine for the
	// connection's life, stays small (see waitIdle).
	defer c.cleanup()
	defer c.close()
	if !c.start() {
		return
	}
	defer c.cr.Close()
	c.finish(c.readLoop())
}

// start runs the handshake and sets up the chunk reader; false: the
// handshake failed (logged).
func (c *conn) start() bool {
	c.nc.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	kind, err := ServerHandshake(c.nc)
	if err != nil {
		c.log.Info("rtmp handshake failed", "err", err)
		return false
	}
	c.nc.SetDeadline(time.Time{})
	c.log.Debug("rtmp handshake done", "kind", kind)
	c.progress(c.cfg.CommandTimeout, "no connect")
	// The socket is read in 64 KiB reads (wire_reader.go): one syscall
	// per wake-up, not two or three per chunk.
	c.wire = newWireReader(c.nc)
	c.cr = NewChunkReader(nil, c.cfg.Pool, c.cfg.MaxMessageBytes, c.cfg.MaxChunkSize)
	c.getReader()
	return true
}

// finish records and logs what ended the read loop.
func (c *conn) finish(err error) {
	c.ended.Store(&err)
	// A client hanging up, or a refusal already logged, is no news: the
	// "publish ended" / "play ended" / "rtmp connect rejected" lines say it.
	switch {
	case err == nil:
		c.log.Debug("rtmp connection closed")
	case ordinaryClose(err) || errors.Is(err, ErrRejected):
		c.log.Debug("rtmp connection closed", "err", err)
	default:
		c.log.Info("rtmp connection closed", "err", err)
	}
}

func (c *conn) cleanup() {
	for _, st := range c.streams {
		c.stopStream(st)
	}
}

func (c *conn) stopStream(st *netStream) {
	if st.publisher != nil {
		st.publisher.Close()
		st.publisher = nil
		args := []any{"stream", st.name, "bytes", c.cr.BytesRead()}
		reason, err := c.endReason("unpublished") // FCUnpublish, deleteStream
		if args = append(args, "reason", reason); err != nil {
			args = append(args, "err", err)
		}
		st.logger(c).Info("publish ended", args...)
	}
	if st.player != nil {
		st.player.stop()
		st.player = nil
	}
}

func (c *conn) publishing() bool {
	for _, st := range c.streams {
		if st.publisher != nil {
			return true
		}
	}
	return false
}

func (c *conn) readLoop() error {
	for {
		c.armReadDeadline()
		if c.idle() {
			if err := c.waitIdle(); err != nil {
				return err
			}
		}
		before := c.cr.BytesRead()
		m, h, err := c.cr.ReadMessage()
		c.srv.bytesIn.Add(c.cr.BytesRead() - before)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.activeWhat == "idle" {
					return fmt.Errorf("idle for %v: %w", c.activeLimit, err)
				}
				return fmt.Errorf("%s within %v: %w", c.activeWhat, c.activeLimit, err)
			}
			return err
		}
		if isMedia(h.Type) {
			if st := c.streams[h.StreamID]; st != nil && st.publisher != nil {
				c.activeAt = time.Now()
			}
		}
		if err := c.maybeAck(); err != nil {
			m.Release()
			return err
		}
		if err := c.handleMessage(m, h); err != nil {
			return err
		}
	}
}

// progress restarts the read deadline: the client now has limit to
// do what (the phrase the timeout error starts with).
func (c *conn) progress(limit time.Duration, what string) {
	c.activeAt, c.activeLimit, c.activeWhat = time.Now(), limit, what
	c.rdlStale = true
}

// armReadDeadline sets the read deadline before a read. Players are
// mostly silent (acks only), so a connection that only plays has none:
// its writes carry the idle limit. The socket's timer is touched only
// when the deadline moved by more than a quarter of its limit, not on
// every media message, so a silent publisher goes after 3/4 to all of
// idle_timeout.
func (c *conn) armReadDeadline() {
	if c.hasPlayer() && !c.publishing() {
		if !c.rdl.IsZero() || c.rdlStale {
			c.nc.SetReadDeadline(time.Time{})
			c.rdl, c.rdlStale = time.Time{}, false
		}
		return
	}
	if c.rdl.IsZero() && !c.rdlStale && c.activeWhat == "idle" {
		// The play just ended: the idle limit starts now.
		c.activeAt = time.Now()
	}
	want := c.activeAt.Add(c.activeLimit)
	if !c.rdlStale && !c.rdl.IsZero() && !want.Before(c.rdl) && want.Sub(c.rdl) < c.activeLimit/4 {
		return
	}
	c.nc.SetReadDeadline(want)
	c.rdl, c.rdlStale = want, false
}

// isMedia reports whether a message type carries a publisher's media.
func isMedia(typ uint8) bool {
	switch typ {
	case typeAudio, typeVideo, typeDataAMF0, typeDataAMF3, typeAggregate:
		return true
	}
	return false
}

func (c *conn) hasPlayer() bool {
	for _, st := range c.streams {
		if st.player != nil {
			return true
		}
	}
	return false
}

// maybeAck sends an Acknowledgement once a window's worth of bytes arrived.
func (c *conn) maybeAck() error {
	if c.peerWindow == 0 {
		return nil
	}
	n := c.cr.BytesRead()
	if n-c.lastAck < uint64(c.peerWindow) {
		return nil
	}
	c.lastAck = n
	return c.sendControl(typeAck, binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// handleMessage dispatches one message; it owns m's reference.
func (c *conn) handleMessage(m *remux.Message, h Header) error {
	switch h.Type {
	case typeAudio, typeVideo:
		st := c.streams[h.StreamID]
		if st == nil || st.publisher == nil {
			m.Release() // media on a stream that does not publish: ignore
			return nil
		}
		st.publisher.Write(m)
		return nil
	case typeDataAMF0, typeDataAMF3:
		return c.handleData(m, h)
	case typeAggregate:
		return c.handleAggregate(m, h)
	}
	defer m.Release()
	p := m.Payload
	switch h.Type {
	case typeSetChunkSize:
		if len(p) < 4 {
			return fmt.Errorf("%w: short set chunk size", ErrProtocol)
		}
		return c.cr.SetChunkSize(binary.BigEndian.Uint32(p))
	case typeAbort:
		if len(p) >= 4 {
			c.cr.Abort(binary.BigEndian.Uint32(p))
		}
	case typeAck:
	case typeWindowAckSize:
		if len(p) >= 4 {
			c.peerWindow = binary.BigEndian.Uint32(p)
		}
	case typeSetPeerBandwidth:
	case typeUserControl:
		return c.handleUserControl(p)
	case typeCommandAMF0:
		return c.command(p, h)
	case typeCommandAMF3:
		if len(p) > 0 {
			p = p[1:] // format selector 0: AMF0 values follow
		}
		return c.command(p, h)
	default:
		c.log.Debug("rtmp message ignored", "type", h.Type, "len", len(p))
	}
	return nil
}

func (c *conn) handleUserControl(p []byte) error {
	if len(p) < 2 {
		return fmt.Errorf("%w: user control message of %d bytes", ErrProtocol, len(p))
	}
	switch binary.BigEndian.Uint16(p) {
	case ucPingRequest:
		if len(p) >= 6 {
			return c.sendUserControl(ucPingResponse, binary.BigEndian.Uint32(p[2:]))
		}
	case ucSetBufferLength:
		if len(p) >= 10 {
			if st := c.streams[binary.BigEndian.Uint32(p[2:])]; st != nil && st.player != nil {
				st.player.bufferMs.Store(binary.BigEndian.Uint32(p[6:]))
			}
		}
	}
	return nil
}

func (c *conn) handleData(m *remux.Message, h Header) error {
	st := c.streams[h.StreamID]
	if st == nil || st.publisher == nil {
		m.Release()
		return nil
	}
	if h.Type == typeDataAMF3 && len(m.Payload) > 0 {
		m.Payload = m.Payload[1:]
	}
	// Publishers put the AMF0 string "@setDataFrame" before onMetaData;
	// players and files expect onMetaData first, so it is cut off.
	if rest, ok := amf.CutString(m.Payload, "@setDataFrame"); ok {
		m.Payload = rest
	}
	m.Kind = remux.KindData
	st.publisher.Write(m)
	return nil
}

// handleAggregate splits an aggregate message (type 22) into its sub-messages.
func (c *conn) handleAggregate(m *remux.Message, h Header) error {
	defer m.Release()
	st := c.streams[h.StreamID]
	if st == nil || st.publisher == nil {
		return nil
	}
	p := m.Payload
	var first uint32
	for i := 0; len(p) > 0; i++ {
		if len(p) < 11 {
			return fmt.Errorf("%w: aggregate sub-message header truncated", ErrProtocol)
		}
		size := uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
		ts := uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6]) | uint32(p[7])<<24
		if uint32(len(p)-11) < size {
			return fmt.Errorf("%w: aggregate sub-message of %d bytes, %d left", ErrProtocol, size, len(p)-11)
		}
		if i == 0 {
			first = ts
		}
		typ := p[0]
		body := p[11 : 11+size]
		p = p[11+size:]
		if len(p) >= 4 {
			p = p[4:] // back pointer
		}
		if typ != typeAudio && typ != typeVideo && typ != typeDataAMF0 {
			continue
		}
		sub := c.cfg.Pool.Get(len(body))
		copy(sub.Payload, body)
		sub.Kind = remux.Kind(typ)
		sub.Timestamp = h.Timestamp + (ts - first)
		sub.Parse()
		if typ == typeDataAMF0 {
			if err := c.handleData(sub, Header{Type: typ, StreamID: h.StreamID}); err != nil {
				return err
			}
			continue
		}
		st.publisher.Write(sub)
	}
	return nil
}

// ---- writing ----

// writeLocked writes b to the socket with the idle timeout as deadline.
func (c *conn) writeLocked(b []byte) error {
	if c.wclosed {
		return net.ErrClosed
	}
	c.refreshWriteDeadlineLocked()
	n, err := c.nc.Write(b)
	c.srv.bytesOut.Add(uint64(n))
	if err != nil {
		c.wclosed = true
		c.close()
	}
	return err
}

// refreshWriteDeadlineLocked keeps the write deadline at least 3/4 of the
// idle timeout ahead, touching the socket's timer only a few times per
// timeout rather than on every write.
func (c *conn) refreshWriteDeadlineLocked() { c.refreshWriteDeadlineAt(time.Now()) }

// refreshWriteDeadlineAt is refreshWriteDeadlineLocked at now: the shared
// writer reads the clock once per pass, not once per player.
func (c *conn) refreshWriteDeadlineAt(now time.Time) {
	if now.Sub(c.wdl) < c.cfg.IdleTimeout/4 {
		return
	}
	c.wdl = now
	c.nc.SetWriteDeadline(now.Add(c.cfg.IdleTimeout))
}

// writeCtlLocked writes the message in c.ctl. The scratch is kept only
// while small: the control messages that repeat (acknowledgements, pings)
// are a few bytes, and the commands and status messages that need more
// come a few times per connection, which would otherwise keep their size.
func (c *conn) writeCtlLocked() error {
	err := c.writeLocked(c.ctl)
	if cap(c.ctl) > maxKeptCtl {
		c.ctl = nil
	}
	return err
}

// maxKeptCtl is the control scratch a connection keeps between messages.
const maxKeptCtl = 64

func (c *conn) sendControl(typ uint8, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ctl = c.cw.appendMessage(c.ctl[:0], csidControl, Header{Type: typ}, payload)
	return c.writeCtlLocked()
}

func (c *conn) sendUserControl(event uint16, args ...uint32) error {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 10), event)
	for _, a := range args {
		p = binary.BigEndian.AppendUint32(p, a)
	}
	return c.sendControl(typeUserControl, p)
}

// setChunkSize announces and applies our outbound chunk size.
func (c *conn) setChunkSize(n uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ctl = c.cw.appendMessage(c.ctl[:0], csidControl, Header{Type: typeSetChunkSize}, binary.BigEndian.AppendUint32(nil, n))
	c.cw.chunkSize = n
	return c.writeCtlLocked()
}

// sendAMF writes an AMF0 command (typ 20) or data (typ 18) message.
func (c *conn) sendAMF(csid, streamID uint32, typ uint8, vals ...any) error {
	body, err := amf.AppendAMF0(nil, vals...)
	if err != nil {
		return fmt.Errorf("encoding %v: %w", vals[0], err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ctl = c.cw.appendMessage(c.ctl[:0], csid, Header{Type: typ, StreamID: streamID}, body)
	return c.writeCtlLocked()
}

// sendStatus writes onStatus on a stream's message stream id.
func (c *conn) sendStatus(streamID uint32, level, code, description string, extra ...amf.Property) error {
	info := amf.Object{{Key: "level", Value: level}, {Key: "code", Value: code}, {Key: "description", Value: description}}
	info = append(info, extra...)
	return c.sendAMF(csidStatus, streamID, typeCommandAMF0, "onStatus", 0.0, nil, info)
}
