package pull

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
	rtpdepack "github.com/tapedeck/tapedeck/remux/rtp"
)

const userAgent = "tapedeck"

// teardownWait bounds the TEARDOWN at the end of a session: writing it and
// waiting for the reply.
const teardownWait = time.Second

// errStopped is returned by reads of a client whose pull is being stopped.
var errStopped = errors.New("rtsp: stopped")

// rtspClient is one RTSP session with a camera.
type rtspClient struct {
	nc       net.Conn
	br       *bufio.Reader
	wmu      sync.Mutex // writes; cseq, session, tornDown
	cseq     int
	base     string // the URL without credentials
	user     string
	pass     string
	hasUser  bool
	auth     *auth
	session  string
	tornDown bool
	timeout  time.Duration // request timeout
	keep     time.Duration // keep-alive period
	public   string        // OPTIONS Public header
	ssrc     uint32        // ours, in RTCP reports
	pending  int           // bytes of an interleaved frame a read left unread
	stopping atomic.Bool
}

// dialRTSP connects to the camera of raw; for rtsps:// it does the TLS
// handshake with (a clone of) tc, nil meaning the system roots.
func dialRTSP(ctx context.Context, raw string, timeout time.Duration, tc *tls.Config) (*rtspClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("rtsp url: %w", err)
	}
	port := "554"
	if u.Scheme == "rtsps" {
		port = "322"
	} else if u.Scheme != "rtsp" {
		return nil, fmt.Errorf("rtsp url: scheme %q", u.Scheme)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	c := &rtspClient{timeout: timeout, keep: 25 * time.Second, ssrc: rand.Uint32()}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
		c.hasUser = true
		u.User = nil
	}
	c.base = u.String()
	addr := net.JoinHostPort(u.Hostname(), port)
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rtsp dial %s: %w", addr, err)
	}
	if u.Scheme == "rtsps" {
		cfg := tc.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tlsConn := tls.Client(nc, cfg)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rtsps tls handshake with %s: %w", addr, err)
		}
		nc = tlsConn
	}
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 64<<10)
	return c, nil
}

func (c *rtspClient) close() { c.nc.Close() }

// interrupt is called when the pull is stopped. It only wakes whoever reads
// the control connection: the reader returns and the session is torn down
// on the connection, still open, before it is closed.
func (c *rtspClient) interrupt() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Unix(1, 0))
}

// armRead sets the deadline of the reads that follow. It reports
// errStopped once interrupted: checked after setting the deadline, so that
// a deadline set just after interrupt cannot undo it.
func (c *rtspClient) armRead(d time.Duration) error {
	c.nc.SetReadDeadline(time.Now().Add(d))
	if c.stopping.Load() {
		return errStopped
	}
	return nil
}

// write sends a request; it returns the CSeq used.
func (c *rtspClient) write(method, uri string, hdr []string, body []byte) (int, error) {
	return c.writeTimeout(method, uri, hdr, body, c.timeout)
}

func (c *rtspClient) writeTimeout(method, uri string, hdr []string, body []byte, timeout time.Duration) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: %s\r\n", method, uri, c.cseq, userAgent)
	if c.session != "" {
		fmt.Fprintf(&b, "Session: %s\r\n", c.session)
	}
	if c.auth != nil {
		fmt.Fprintf(&b, "Authorization: %s\r\n", c.auth.header(method, uri))
	}
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	if len(body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := io.WriteString(c.nc, b.String()+string(body))
	return c.cseq, err
}

// writeFrame sends one interleaved frame on channel ch.
func (c *rtspClient) writeFrame(ch int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append([]byte{'$', byte(ch), byte(len(data) >> 8), byte(len(data))}, data...)
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(b)
	return err
}

// readMessage reads the next RTSP message, skipping interleaved frames.
func (c *rtspClient) readMessage() (*Response, error) {
	for {
		ch, _, r, err := c.readAny()
		if err != nil || ch < 0 {
			return r, err
		}
	}
}

// readAny reads the next interleaved frame (its channel and data) or RTSP
// message (channel -1). A frame cut short by a deadline is skipped by the
// next read rather than leaving the stream out of sync: the stop of a pull
// interrupts reads, and the TEARDOWN reply is read after.
func (c *rtspClient) readAny() (int, []byte, *Response, error) {
	for c.pending > 0 {
		n, err := c.br.Discard(c.pending)
		c.pending -= n
		if err != nil {
			return 0, nil, nil, err
		}
	}
	h, err := c.br.Peek(1)
	if err != nil {
		return 0, nil, nil, err
	}
	if h[0] != '$' {
		r, err := ReadResponse(c.br)
		return -1, nil, r, err
	}
	if h, err = c.br.Peek(4); err != nil { // nothing consumed yet
		return 0, nil, nil, err
	}
	ch, n := int(h[1]), int(binary.BigEndian.Uint16(h[2:]))
	c.br.Discard(4)
	buf := make([]byte, n)
	got, err := io.ReadFull(c.br, buf)
	c.pending = n - got
	return ch, buf, nil, err
}

// do sends a request and waits for its response, answering one
// authentication challenge.
func (c *rtspClient) do(method, uri string, hdr ...string) (*Response, error) {
	for try := 0; ; try++ {
		cseq, err := c.write(method, uri, hdr, nil)
		if err != nil {
			return nil, fmt.Errorf("rtsp %s: %w", method, err)
		}
		if err := c.armRead(c.timeout); err != nil {
			return nil, fmt.Errorf("rtsp %s: %w", method, err)
		}
		var r *Response
		for {
			r, err = c.readMessage()
			if err != nil {
				return nil, fmt.Errorf("rtsp %s: %w", method, err)
			}
			if r.Method != "" { // a request from the server: ignore
				continue
			}
			if n, _ := strconv.Atoi(r.Header.Get("CSeq")); n == cseq || r.Header.Get("CSeq") == "" {
				break
			}
		}
		c.nc.SetReadDeadline(time.Time{})
		if r.Status == 401 && try == 0 {
			if !c.hasUser {
				return nil, fmt.Errorf("rtsp %s: 401 %s: the camera wants credentials (user:pass@ in the url)", method, r.Reason)
			}
			a, err := parseChallenge(r.Header["www-authenticate"], c.user, c.pass)
			if err != nil {
				return nil, err
			}
			c.auth = a
			continue
		}
		if r.Status != 200 {
			return r, fmt.Errorf("rtsp %s: %d %s", method, r.Status, r.Reason)
		}
		return r, nil
	}
}

// track is one SETUP media of the session.
type track struct {
	media       Media
	url         string
	channel     int // interleaved RTP channel (TCP)
	rtcpChannel int // interleaved RTCP channel (TCP)
	udp         *net.UDPConn
	rtcp        *net.UDPConn
	rtcpAddr    atomic.Pointer[net.UDPAddr] // the camera's RTCP port (UDP)
	depack      rtpdepack.Depacketizer
	tl          *rtpdepack.Timeline
	reorder     *rtpdepack.Reorderer
	stats       rtpStats
}

// supported reports whether a media can be depacketized.
func supported(m *Media) bool {
	switch m.Type + "/" + m.Codec {
	case "video/H264", "video/H265":
		return true
	case "audio/MPEG4-GENERIC":
		return m.Fmtp["config"] != "" && strings.EqualFold(m.Fmtp["mode"], "AAC-hbr") || m.Fmtp["config"] != "" && m.fmtpInt("sizelength") > 0
	case "audio/PCMA", "audio/PCMU":
		return m.ClockRate == 8000 && m.Channels <= 1
	}
	return false
}

// setup describes the stream and sets up one video and one audio track.
func (c *rtspClient) setup(udp bool) ([]*track, error) {
	r, err := c.do("OPTIONS", c.base)
	if err != nil {
		return nil, err
	}
	c.public = r.Header.Get("Public")
	r, err = c.do("DESCRIBE", c.base, "Accept: application/sdp")
	if err != nil {
		return nil, err
	}
	sdp, err := ParseSDP(r.Body)
	if err != nil {
		return nil, err
	}
	base := c.base
	if cb := r.Header.Get("Content-Base"); cb != "" {
		base = cb
	} else if cl := r.Header.Get("Content-Location"); cl != "" {
		base = cl
	}
	if sdp.Control != "" && sdp.Control != "*" {
		base = resolveControl(base, sdp.Control)
	}
	var tracks []*track
	var haveV, haveA bool
	for _, m := range sdp.Medias {
		if !supported(&m) || m.Type == "video" && haveV || m.Type == "audio" && haveA {
			continue
		}
		haveV = haveV || m.Type == "video"
		haveA = haveA || m.Type == "audio"
		tracks = append(tracks, &track{media: m, url: resolveControl(base, m.Control)})
	}
	if len(tracks) == 0 {
		var codecs []string
		for _, m := range sdp.Medias {
			codecs = append(codecs, m.Type+"/"+m.Codec)
		}
		return nil, fmt.Errorf("rtsp: no supported media in %v (want H264/H265 video, AAC/G.711 audio)", codecs)
	}
	for i, t := range tracks {
		var tr string
		if udp {
			if err := t.listenUDP(); err != nil {
				closeTracks(tracks)
				return nil, err
			}
			p := t.udp.LocalAddr().(*net.UDPAddr).Port
			tr = fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d", p, p+1)
		} else {
			t.channel = 2 * i
			tr = fmt.Sprintf("Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1)
		}
		r, err := c.do("SETUP", t.url, tr)
		if err != nil {
			closeTracks(tracks)
			if r != nil && r.Status == 461 && !udp {
				return nil, fmt.Errorf("%w (try transport: udp)", err)
			}
			return nil, err
		}
		if id, to := sessionID(r.Header.Get("Session")); c.sessionID() == "" {
			c.wmu.Lock() // teardown may read it from another goroutine
			c.session = id
			c.wmu.Unlock()
			if to > 0 {
				c.keep = time.Duration(to) * time.Second / 2
			}
		}
		tp := parseTransport(r.Header.Get("Transport"))
		if udp {
			if sp, sp2, ok := parseRange(tp["server_port"]); ok {
				host := tp["source"]
				if host == "" {
					host, _, _ = net.SplitHostPort(c.nc.RemoteAddr().String())
				}
				// Open the path through a NAT / firewall towards the camera.
				if ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(sp))); err == nil {
					t.udp.WriteToUDP([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ua)
				}
				// The same for RTCP, with a report of nothing yet.
				if ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(sp2))); err == nil {
					t.rtcpAddr.Store(ua)
					t.rtcp.WriteToUDP(receiverReport(c.ssrc, userAgent), ua)
				}
			}
		} else {
			t.rtcpChannel = t.channel + 1
			if ch, ch2, ok := parseRange(tp["interleaved"]); ok {
				t.channel, t.rtcpChannel = ch, ch2
			}
		}
	}
	return tracks, nil
}

func (c *rtspClient) sessionID() string {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.session
}

func (t *track) listenUDP() error {
	for range 16 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{})
		if err != nil {
			return err
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 {
			a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: a.LocalAddr().(*net.UDPAddr).IP, Port: p + 1})
		if err != nil {
			a.Close()
			continue
		}
		a.SetReadBuffer(4 << 20)
		t.udp, t.rtcp = a, b
		return nil
	}
	return errors.New("rtsp: no free UDP port pair")
}

func closeTracks(ts []*track) {
	for _, t := range ts {
		if t.udp != nil {
			t.udp.Close()
			t.rtcp.Close()
		}
	}
}

// play starts the stream and prepares the depacketizers, with the tracks
// on one timeline from the RTP-Info rtptimes when the server gives them.
func (c *rtspClient) play(tracks []*track, pool *remux.Pool, udp bool) error {
	uri := c.base
	r, err := c.do("PLAY", uri, "Range: npt=0.000-")
	if err != nil {
		return err
	}
	info := parseRTPInfo(r.Header.Get("RTP-Info"))
	for _, t := range tracks {
		m := &t.media
		t.stats.clock = int64(m.ClockRate)
		t.tl = rtpdepack.NewTimeline(m.ClockRate)
		for u, ts := range info {
			if u == t.url || strings.HasSuffix(t.url, "/"+strings.TrimPrefix(u, "/")) || strings.HasSuffix(u, "/"+m.Control) && m.Control != "" {
				t.tl.SetBase(ts)
			}
		}
		switch m.Codec {
		case "H264":
			t.depack = rtpdepack.NewVideo(rtpdepack.H264, t.tl, pool, m.H264Params()...)
		case "H265":
			t.depack = rtpdepack.NewVideo(rtpdepack.H265, t.tl, pool, m.H265Params()...)
		case "MPEG4-GENERIC":
			cfg, _ := hex.DecodeString(m.Fmtp["config"])
			t.depack = rtpdepack.NewAAC(rtpdepack.AACConfig{
				Config: cfg, SizeLength: m.fmtpInt("sizelength"),
				IndexLength: m.fmtpInt("indexlength"), IndexDeltaLength: m.fmtpInt("indexdeltalength"),
			}, t.tl, pool)
		case "PCMA", "PCMU":
			t.depack = rtpdepack.NewG711(m.Codec == "PCMA", t.tl, pool)
		}
		if udp {
			t.reorder = rtpdepack.NewReorderer(64)
		}
	}
	return nil
}

// keepAlive sends GET_PARAMETER (or OPTIONS) every keep period until done.
func (c *rtspClient) keepAlive(done <-chan struct{}) {
	method := "OPTIONS"
	if strings.Contains(c.public, "GET_PARAMETER") {
		method = "GET_PARAMETER"
	}
	tick := time.NewTicker(max(c.keep, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if _, err := c.write(method, c.base, nil, nil); err != nil {
				return
			}
		}
	}
}

// reports sends an RTCP receiver report for every track each interval
// until done, the first after half of one (RFC 3550 6.2): some cameras stop
// sending to a receiver that does not report.
func (c *rtspClient) reports(tracks []*track, every time.Duration, done <-chan struct{}) {
	tick := time.NewTimer(every / 2)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		for _, t := range tracks {
			var rr []byte
			if b, ok := t.stats.report(time.Now()); ok {
				rr = receiverReport(c.ssrc, userAgent, b)
			} else {
				rr = receiverReport(c.ssrc, userAgent)
			}
			if t.rtcp != nil {
				if a := t.rtcpAddr.Load(); a != nil {
					t.rtcp.WriteToUDP(rr, a)
				}
			} else if c.writeFrame(t.rtcpChannel, rr) != nil {
				return
			}
		}
		tick.Reset(every)
	}
}

// readRTCP reads the RTCP socket of a UDP track until it is closed: the
// Sender Reports give the LSR of our reports, and a camera that gave no
// server_port is answered where its reports come from. Unread, the socket
// would just fill.
func (t *track) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, from, err := t.rtcp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if t.rtcpAddr.Load() == nil {
			t.rtcpAddr.Store(from)
		}
		t.stats.rtcp(buf[:n], time.Now())
	}
}

// teardown ends the session, best effort: a camera otherwise keeps it, and
// the stream, until it times out, and many allow few sessions. It waits
// briefly for the reply: closing a connection with unread data resets it,
// and the reset can discard the request before the camera reads it.
func (c *rtspClient) teardown() {
	c.wmu.Lock()
	session, done := c.session, c.tornDown
	c.tornDown = true
	c.wmu.Unlock()
	if session == "" || done {
		return
	}
	wait := min(c.timeout, teardownWait)
	cseq, err := c.writeTimeout("TEARDOWN", c.base, nil, nil, wait)
	if err != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(wait))
	for {
		r, err := c.readMessage()
		if err != nil || r.Method == "" && r.Header.Get("CSeq") == strconv.Itoa(cseq) {
			return
		}
	}
}

// packet is an RTP packet of a track.
type packet struct {
	t   *track
	pkt *rtp.Packet
}
