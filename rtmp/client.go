package rtmp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// ClientConfig tunes a Client. Zero values mean the defaults.
type ClientConfig struct {
	ChunkSize       uint32        // outbound chunk size, DefaultChunkSize
	Timeout         time.Duration // for dial, handshake and each command reply; 10s
	DigestHandshake bool          // send an FP9 (digest) C1 like ffmpeg
	TLSConfig       *tls.Config   // for rtmps://; ServerName defaults to the URL host
	Pool            *remux.Pool
	FlashVer        string
	// ConnectProps are added to the connect command object, e.g. the
	// Enhanced RTMP fourCcList a publisher of HEVC/AV1 announces.
	ConnectProps amf.Object
	// Control, when set, is the net.Dialer Control: it sees the address
	// about to be dialled and may refuse it (the relay's target policy).
	Control func(network, address string, c syscall.RawConn) error
}

// Client is the client side of an RTMP connection: it publishes or plays
// one stream. It is used for relays, pulls, tests and the load tool.
type Client struct {
	cfg      ClientConfig
	nc       net.Conn
	br       *bufio.Reader
	cr       *ChunkReader
	wmu      sync.Mutex // serialises writes: media vs. replies to pings and acks
	cw       *chunkWriter
	wbuf     []byte
	vb       vecBuilder
	txn      float64
	streamID uint32
	app      string
	tcURL    string
	window   uint32
	lastAck  uint64
	// ConnectInfo is the information object of the connect _result.
	ConnectInfo amf.Object
	// ServerProperties is the properties object of the connect _result
	// (fmsVer, capabilities; Enhanced RTMP servers add fourCcList there).
	ServerProperties amf.Object
}

// ParseURL splits rtmp[s]://host[:port]/app[/instance]/stream[?query] into
// the host:port to dial, the app, the tcUrl and the stream name (with its
// query), the way ffmpeg does: the last path element is the stream.
func ParseURL(raw string) (addr, app, tcURL, stream string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", "", fmt.Errorf("rtmp url: %w", err)
	}
	port := "1935"
	switch u.Scheme {
	case "rtmp":
	case "rtmps":
		port = "443"
	default:
		return "", "", "", "", fmt.Errorf("rtmp url %q: scheme must be rtmp or rtmps", raw)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	addr = net.JoinHostPort(u.Hostname(), port)
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndex(path, "/")
	if i < 0 {
		return "", "", "", "", fmt.Errorf("rtmp url %q: needs /app/stream", raw)
	}
	app, stream = path[:i], path[i+1:]
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	tcURL = u.Scheme + "://" + u.Host + "/" + app
	return addr, app, tcURL, stream, nil
}

// Dial connects to the server of rawURL and performs handshake and connect.
// It returns the client and the stream name from the URL.
func Dial(ctx context.Context, rawURL string, cfg ClientConfig) (*Client, string, error) {
	addr, app, tcURL, stream, err := ParseURL(rawURL)
	if err != nil {
		return nil, "", err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.Pool == nil {
		cfg.Pool = remux.NewPool()
	}
	if cfg.FlashVer == "" {
		cfg.FlashVer = "FMLE/3.0 (compatible; tapedeck)"
	}
	d := net.Dialer{Timeout: cfg.Timeout, Control: cfg.Control}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("rtmp dial %s: %w", addr, err)
	}
	if strings.HasPrefix(rawURL, "rtmps:") {
		tc := cfg.TLSConfig.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, "", fmt.Errorf("rtmps tls handshake with %s: %w", addr, err)
		}
		nc = tlsConn
	}
	c := &Client{cfg: cfg, nc: nc, cw: newChunkWriter(), app: app, tcURL: tcURL}
	if err := c.connect(ctx); err != nil {
		nc.Close()
		return nil, "", err
	}
	return c, stream, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.cr != nil {
		c.cr.Close()
	}
	return c.nc.Close()
}

// NetConn returns the underlying connection.
func (c *Client) NetConn() net.Conn { return c.nc }

func (c *Client) deadline(ctx context.Context) {
	dl := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.nc.SetDeadline(dl)
}

func (c *Client) connect(ctx context.Context) error {
	c.deadline(ctx)
	if err := ClientHandshake(c.nc, c.cfg.DigestHandshake); err != nil {
		return err
	}
	c.br = bufio.NewReaderSize(c.nc, 16<<10)
	c.cr = NewChunkReader(c.br, c.cfg.Pool, 0, 0)
	if err := c.writeControl(typeSetChunkSize, be32(c.cfg.ChunkSize)); err != nil {
		return err
	}
	c.cw.chunkSize = c.cfg.ChunkSize
	obj := amf.Object{
		{Key: "app", Value: c.app}, {Key: "type", Value: "nonprivate"}, {Key: "flashVer", Value: c.cfg.FlashVer},
		{Key: "tcUrl", Value: c.tcURL}, {Key: "fpad", Value: false}, {Key: "capabilities", Value: 15.0},
		{Key: "audioCodecs", Value: 4071.0}, {Key: "videoCodecs", Value: 252.0}, {Key: "videoFunction", Value: 1.0},
	}
	res, err := c.call(ctx, "connect", append(obj, c.cfg.ConnectProps...))
	if err != nil {
		return fmt.Errorf("rtmp connect to %s: %w", c.tcURL, err)
	}
	if len(res) > 2 {
		c.ServerProperties, _ = res[2].(amf.Object)
	}
	if len(res) > 3 {
		c.ConnectInfo, _ = res[3].(amf.Object)
	}
	return nil
}

// call sends a command and waits for its _result or _error.
func (c *Client) call(ctx context.Context, name string, obj any, args ...any) ([]any, error) {
	c.txn++
	txn := c.txn
	vals := append([]any{name, txn, obj}, args...)
	if err := c.writeAMF(csidCommand, 0, typeCommandAMF0, vals...); err != nil {
		return nil, err
	}
	for {
		vals, err := c.readCommand(ctx)
		if err != nil {
			return nil, err
		}
		if len(vals) < 2 {
			continue
		}
		if t, _ := vals[1].(float64); t != txn {
			continue
		}
		switch vals[0] {
		case "_result":
			return vals, nil
		case "_error":
			return nil, fmt.Errorf("%s refused: %s", name, describe(vals))
		}
	}
}

func describe(vals []any) string {
	for _, v := range vals {
		if o, ok := v.(amf.Object); ok && o.String("code") != "" {
			return o.String("code") + ": " + o.String("description")
		}
	}
	return fmt.Sprint(vals)
}

// readCommand reads messages, handling control ones, until a command
// arrives within the command timeout.
func (c *Client) readCommand(ctx context.Context) ([]any, error) {
	c.deadline(ctx)
	return c.ReadCommand()
}

// readMessage reads the next message, applying control messages.
func (c *Client) readMessage() (*remux.Message, Header, error) {
	for {
		m, h, err := c.cr.ReadMessage()
		if err != nil {
			return nil, h, err
		}
		if c.window > 0 && c.cr.BytesRead()-c.lastAck >= uint64(c.window)/2 {
			c.lastAck = c.cr.BytesRead()
			if err := c.writeControl(typeAck, be32(uint32(c.lastAck))); err != nil {
				m.Release()
				return nil, h, err
			}
		}
		p := m.Payload
		switch h.Type {
		case typeSetChunkSize:
			if len(p) >= 4 {
				err = c.cr.SetChunkSize(binary.BigEndian.Uint32(p))
			}
		case typeWindowAckSize:
			if len(p) >= 4 {
				c.window = binary.BigEndian.Uint32(p)
			}
		case typeUserControl:
			if len(p) >= 6 && binary.BigEndian.Uint16(p) == ucPingRequest {
				err = c.writeControl(typeUserControl, append([]byte{0, ucPingResponse}, p[2:6]...))
			}
		case typeAbort:
			if len(p) >= 4 {
				c.cr.Abort(binary.BigEndian.Uint32(p))
			}
		default:
			return m, h, nil
		}
		m.Release()
		if err != nil {
			return nil, h, err
		}
	}
}

func (c *Client) writeControl(typ uint8, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.cw.appendMessage(c.wbuf[:0], csidControl, Header{Type: typ}, payload)
	_, err := c.nc.Write(c.wbuf)
	return err
}

func (c *Client) writeAMF(csid, streamID uint32, typ uint8, vals ...any) error {
	body, err := amf.AppendAMF0(nil, vals...)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.cw.appendMessage(c.wbuf[:0], csid, Header{Type: typ, StreamID: streamID}, body)
	_, err = c.nc.Write(c.wbuf)
	return err
}

func (c *Client) createStream(ctx context.Context) error {
	res, err := c.call(ctx, "createStream", nil)
	if err != nil {
		return err
	}
	id, ok := argAt(res, 3).(float64)
	if !ok || id < 1 {
		return fmt.Errorf("rtmp createStream: bad stream id in %v", res)
	}
	c.streamID = uint32(id)
	return nil
}

// waitStatus waits for an onStatus whose code starts with prefix+".".
func (c *Client) waitStatus(ctx context.Context, want string) error {
	for {
		vals, err := c.readCommand(ctx)
		if err != nil {
			return err
		}
		if len(vals) < 4 || vals[0] != "onStatus" {
			continue
		}
		info, _ := vals[3].(amf.Object)
		code := info.String("code")
		if code == want {
			return nil
		}
		if info.String("level") == "error" {
			return fmt.Errorf("%s: %s", code, info.String("description"))
		}
	}
}

// Publish announces a publish of name and waits for NetStream.Publish.Start.
func (c *Client) Publish(ctx context.Context, name string) error {
	c.writeAMF(csidCommand, 0, typeCommandAMF0, "releaseStream", c.txn+1, nil, name)
	c.txn++
	c.writeAMF(csidCommand, 0, typeCommandAMF0, "FCPublish", c.txn+1, nil, name)
	c.txn++
	if err := c.createStream(ctx); err != nil {
		return err
	}
	c.txn++
	if err := c.writeAMF(csidStatus, c.streamID, typeCommandAMF0, "publish", c.txn, nil, name, "live"); err != nil {
		return err
	}
	if err := c.waitStatus(ctx, "NetStream.Publish.Start"); err != nil {
		return fmt.Errorf("rtmp publish %s: %w", name, err)
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

// Play asks for name and waits for NetStream.Play.Start.
func (c *Client) Play(ctx context.Context, name string) error {
	if err := c.createStream(ctx); err != nil {
		return err
	}
	c.txn++
	if err := c.writeAMF(csidStatus, c.streamID, typeCommandAMF0, "play", c.txn, nil, name, -2000.0); err != nil {
		return err
	}
	uc := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte{0, ucSetBufferLength}, c.streamID), 3000)
	if err := c.writeControl(typeUserControl, uc); err != nil {
		return err
	}
	if err := c.waitStatus(ctx, "NetStream.Play.Start"); err != nil {
		return fmt.Errorf("rtmp play %s: %w", name, err)
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

// ErrStreamEnded is returned by ReadMedia when the server ends the stream.
var ErrStreamEnded = errors.New("rtmp: stream ended")

// ReadMedia returns the next audio, video or data message of a played
// stream; the caller releases it.
func (c *Client) ReadMedia() (*remux.Message, error) {
	for {
		m, h, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		switch h.Type {
		case typeAudio, typeVideo, typeDataAMF0:
			return m, nil
		case typeCommandAMF0:
			vals, _ := amf.DecodeAMF0(m.Payload)
			m.Release()
			if len(vals) >= 4 && vals[0] == "onStatus" {
				if info, _ := vals[3].(amf.Object); info.String("code") == "NetStream.Play.UnpublishNotify" || info.String("code") == "NetStream.Play.Stop" {
					return nil, ErrStreamEnded
				}
			}
		default:
			m.Release()
		}
	}
}

// StreamLength asks the server for the length of a recording, in seconds,
// as Flash players do before playing one (getStreamLength).
func (c *Client) StreamLength(ctx context.Context, name string) (float64, error) {
	vals, err := c.call(ctx, "getStreamLength", nil, name)
	c.nc.SetDeadline(time.Time{})
	if err != nil {
		return 0, err
	}
	if len(vals) < 4 {
		return 0, fmt.Errorf("rtmp getStreamLength: short answer %v", vals)
	}
	n, ok := vals[3].(float64)
	if !ok {
		return 0, fmt.Errorf("rtmp getStreamLength: answer %v is not a number", vals[3])
	}
	return n, nil
}

// Seek asks a played recording to go to ms (file time); the server
// answers with NetStream.Seek.Notify in order with the media (ReadPlay).
func (c *Client) Seek(ms float64) error {
	c.txn++
	return c.writeAMF(csidStatus, c.streamID, typeCommandAMF0, "seek", c.txn, nil, ms)
}

// Pause pauses (true) or resumes (false) a played recording at ms;
// NetStream.Pause.Notify / NetStream.Unpause.Notify follow (ReadPlay).
func (c *Client) Pause(pause bool, ms float64) error {
	c.txn++
	return c.writeAMF(csidStatus, c.streamID, typeCommandAMF0, "pause", c.txn, nil, pause, ms)
}

// ReadPlay is ReadMedia for a client that also wants the play's status
// events in order with the media: it returns either a media message (the
// caller releases it) or the information object of an onStatus or
// onPlayStatus (code NetStream.Seek.Notify, NetStream.Play.Complete, ...).
func (c *Client) ReadPlay() (*remux.Message, amf.Object, error) {
	for {
		m, h, err := c.readMessage()
		if err != nil {
			return nil, nil, err
		}
		switch h.Type {
		case typeAudio, typeVideo:
			return m, nil, nil
		case typeDataAMF0, typeCommandAMF0:
			vals, _ := amf.DecodeAMF0(m.Payload)
			if len(vals) >= 2 && (vals[0] == "onStatus" || vals[0] == "onPlayStatus") {
				m.Release()
				if info, ok := vals[len(vals)-1].(amf.Object); ok {
					return nil, info, nil
				}
				continue
			}
			if h.Type == typeDataAMF0 {
				return m, nil, nil
			}
			m.Release()
		default:
			m.Release()
		}
	}
}

// WriteMedia sends one audio, video or data message of a publish; data
// messages go out as they are (add @setDataFrame for metadata yourself).
func (c *Client) WriteMedia(m *remux.Message) error {
	return c.WriteMessage(m.Kind, m.Timestamp, m.Payload)
}

// WriteMessage is WriteMedia with the parts given separately, so a relay
// can send a shared message under its own timestamp without copying it.
// It may be called concurrently with ReadCommand.
func (c *Client) WriteMessage(kind remux.Kind, ts uint32, payload []byte) error {
	csid := uint32(csidVideo)
	switch kind {
	case remux.KindAudio:
		csid = csidAudio
	case remux.KindData:
		csid = csidStatus
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.vb.reset()
	c.vb.add(c.cw, csid, Header{Type: uint8(kind), StreamID: c.streamID, Timestamp: ts}, payload)
	_, err := c.vb.writeTo(c.nc)
	return err
}

// ReadCommand returns the next AMF0 command the server sends after a
// publish (onStatus, onBWDone, ...), answering pings and acknowledging
// bytes on the way. It sets no deadline; run it in its own goroutine to
// keep the connection drained while publishing. To stop it from another
// goroutine close NetConn(), and call Close once it has returned.
func (c *Client) ReadCommand() ([]any, error) {
	for {
		m, h, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		if h.Type != typeCommandAMF0 {
			m.Release()
			continue
		}
		vals, err := amf.DecodeAMF0(m.Payload)
		m.Release()
		if err != nil {
			return nil, fmt.Errorf("rtmp: bad command from server: %w", err)
		}
		return vals, nil
	}
}

// Unpublish ends a publish of name the way OBS and ffmpeg do (FCUnpublish,
// deleteStream); it does not wait for an answer.
func (c *Client) Unpublish(name string) error {
	c.txn++
	if err := c.writeAMF(csidCommand, 0, typeCommandAMF0, "FCUnpublish", c.txn, nil, name); err != nil {
		return err
	}
	c.txn++
	return c.writeAMF(csidCommand, 0, typeCommandAMF0, "deleteStream", c.txn, nil, float64(c.streamID))
}

// SetWriteDeadline bounds the next writes.
func (c *Client) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetReadDeadline bounds the next reads.
func (c *Client) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
