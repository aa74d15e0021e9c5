package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// ---- a tiny Handler: publishers fan out to every subscription ----

type biHandler struct {
	mu        sync.Mutex
	subs      map[*biSub]struct{}
	published atomic.Int64
}

func newBIHandler() *biHandler { return &biHandler{subs: make(map[*biSub]struct{})} }

func (h *biHandler) OnConnect(*ConnInfo) error { return nil }

func (h *biHandler) OnPublish(*ConnInfo, *StreamRequest) (Publisher, error) {
	return &biPub{h: h}, nil
}

func (h *biHandler) OnPlay(*ConnInfo, *StreamRequest) (Subscription, error) {
	s := &biSub{h: h, signal: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s, nil
}

// biPub counts what it is given and hands a reference to every subscription.
type biPub struct{ h *biHandler }

func (p *biPub) Write(m *remux.Message) {
	p.h.published.Add(1)
	p.h.mu.Lock()
	for s := range p.h.subs {
		s.push(m.Retain())
	}
	p.h.mu.Unlock()
	m.Release()
}

func (p *biPub) Close() {}

// biSub never ends on its own: Next blocks until there is something or the
// subscription is closed.
type biSub struct {
	h      *biHandler
	mu     sync.Mutex
	q      []*remux.Message
	closed bool
	signal chan struct{}
}

func (s *biSub) push(m *remux.Message) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		m.Release()
		return
	}
	s.q = append(s.q, m)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

var errBISubClosed = errors.New("subscription closed")

func (s *biSub) Next(dst []*remux.Message) ([]*remux.Message, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return dst, errBISubClosed
		}
		if len(s.q) > 0 {
			dst = append(dst, s.q...)
			clear(s.q)
			s.q = s.q[:0]
			s.mu.Unlock()
			return dst, nil
		}
		s.mu.Unlock()
		<-s.signal
	}
}

func (s *biSub) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, m := range s.q {
			m.Release()
		}
		s.q = nil
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// ---- test server and raw-connection helpers ----

// syncBuffer collects the server's log for a failing test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

const (
	biHandshakeTimeout = 300 * time.Millisecond
	biIdleTimeout      = time.Second
	// biPrompt is how soon a connection that broke the protocol must be
	// closed: well under both timeouts, so a close cannot be a timeout's.
	biPrompt = 250 * time.Millisecond
)

func startBIServer(t *testing.T, cfg ServerConfig, h Handler) (*Server, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := NewServer(cfg, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return srv, ln.Addr().String(), logs
}

func biDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func biHandshake(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if err := ClientHandshake(nc, false); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	nc.SetDeadline(time.Time{})
}

// biClosedErr reports whether err means the peer closed the connection.
func biClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// biWrite sends b; a write the closed peer refuses is not an error here,
// expectClosed sees the close.
func biWrite(t *testing.T, nc net.Conn, b []byte) {
	t.Helper()
	nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(b); err != nil && !biClosedErr(err) {
		t.Fatalf("write: %v", err)
	}
}

// expectClosed reads (and discards) until the server closes nc, failing
// if that takes longer than within from start. It returns the time taken.
func expectClosed(t *testing.T, nc net.Conn, start time.Time, within time.Duration) time.Duration {
	t.Helper()
	nc.SetReadDeadline(start.Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		elapsed := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open %v after the bad input", within)
		}
		if !biClosedErr(err) {
			t.Fatalf("read: %v", err)
		}
		return elapsed
	}
}

// biRaw is a hand-driven client connection: our chunk writer out, our
// chunk reader in.
type biRaw struct {
	t  *testing.T
	nc net.Conn
	w  *chunkWriter
	cr *ChunkReader
}

func newBIRaw(t *testing.T, addr string) *biRaw {
	nc := biDial(t, addr)
	biHandshake(t, nc)
	return &biRaw{t: t, nc: nc, w: newChunkWriter(),
		cr: NewChunkReader(bufio.NewReader(nc), remux.NewPool(), 0, 0)}
}

func (r *biRaw) send(csid uint32, h Header, payload []byte) {
	r.t.Helper()
	biWrite(r.t, r.nc, r.w.appendMessage(nil, csid, h, payload))
}

func (r *biRaw) command(vals ...any) {
	r.t.Helper()
	body, err := amf.AppendAMF0(nil, vals...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(csidCommand, Header{Type: typeCommandAMF0}, body)
}

// result waits for the _result of transaction txn.
func (r *biRaw) result(txn float64) []any {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer r.nc.SetReadDeadline(time.Time{})
	for {
		m, h, err := r.cr.ReadMessage()
		if err != nil {
			r.t.Fatalf("waiting for _result %v: %v", txn, err)
		}
		switch h.Type {
		case typeSetChunkSize:
			if err := r.cr.SetChunkSize(binary.BigEndian.Uint32(m.Payload)); err != nil {
				r.t.Fatal(err)
			}
		case typeCommandAMF0:
			vals, err := amf.DecodeAMF0(m.Payload)
			if err == nil && len(vals) > 1 && vals[0] == "_result" && vals[1] == txn {
				m.Release()
				return vals
			}
		}
		m.Release()
	}
}

func (r *biRaw) connect() {
	r.t.Helper()
	r.command("connect", 1.0, amf.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}, {Key: "flashVer", Value: "FMLE/3.0"}})
	vals := r.result(1)
	if info, _ := argAt(vals, 3).(amf.Object); info.String("code") != "NetConnection.Connect.Success" {
		r.t.Fatalf("connect: %v", vals)
	}
}

// chunkHeader0 is a type-0 chunk header.
func chunkHeader0(csid uint32, ts, length uint32, typ uint8, msid uint32) []byte {
	b := appendBasicHeader(nil, 0, csid)
	b = appendUint24(b, ts)
	b = appendUint24(b, length)
	b = append(b, typ)
	return binary.LittleEndian.AppendUint32(b, msid)
}

// ---- the good clients ----

// biGood is a publisher and a player that must keep working while the
// server fends off bad connections.
type biGood struct {
	pub, play *Client
	stop      chan struct{}
	pubDone   chan error
	seqs      chan uint32
	playErr   chan error
}

func startBIGood(t *testing.T, addr string) *biGood {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "rtmp://" + addr + "/live/good"
	pub, name, err := Dial(ctx, url, ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("good publisher: %v", err)
	}
	t.Cleanup(func() { pub.Close() })
	if err := pub.Publish(ctx, name); err != nil {
		t.Fatalf("good publisher: %v", err)
	}
	play, name, err := Dial(ctx, url, ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("good player: %v", err)
	}
	t.Cleanup(func() { play.Close() })
	if err := play.Play(ctx, name); err != nil {
		t.Fatalf("good player: %v", err)
	}
	g := &biGood{pub: pub, play: play, stop: make(chan struct{}), pubDone: make(chan error, 1),
		seqs: make(chan uint32, 1<<12), playErr: make(chan error, 1)}
	go func() {
		for {
			m, err := play.ReadMedia()
			if err != nil {
				g.playErr <- err
				close(g.seqs)
				return
			}
			if m.Kind == remux.KindAudio && len(m.Payload) == 6 {
				g.seqs <- binary.BigEndian.Uint32(m.Payload[2:])
			}
			m.Release()
		}
	}()
	// Publish every 100 ms, well within the idle timeout.
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			if err := g.send(seq); err != nil {
				g.pubDone <- err
				return
			}
			select {
			case <-g.stop:
				g.pubDone <- nil
				return
			case <-tick.C:
			}
		}
	}()
	return g
}

func (g *biGood) send(seq uint32) error {
	payload := binary.BigEndian.AppendUint32([]byte{0xAF, 0x01}, seq)
	g.pub.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return g.pub.WriteMedia(remux.NewMessage(remux.KindAudio, seq*100, payload))
}

// finish stops the periodic publishing, sends a few last messages and
// checks the player got everything in order.
func (g *biGood) finish(t *testing.T) {
	t.Helper()
	close(g.stop)
	if err := <-g.pubDone; err != nil {
		t.Fatalf("good publisher failed during the bad cases: %v", err)
	}
	const final = 1 << 20
	for i := range uint32(5) {
		if err := g.send(final + i); err != nil {
			t.Fatalf("good publisher after the bad cases: %v", err)
		}
	}
	var got []uint32
	timeout := time.After(5 * time.Second)
	for len(got) == 0 || got[len(got)-1] != final+4 {
		select {
		case seq, ok := <-g.seqs:
			if !ok {
				t.Fatalf("good player failed after %d messages: %v", len(got), <-g.playErr)
			}
			got = append(got, seq)
		case <-timeout:
			t.Fatalf("good player got %d messages, not the final ones: %v", len(got), got)
		}
	}
	periodic := 0
	for i, seq := range got {
		if i > 0 && seq <= got[i-1] {
			t.Errorf("player received %d after %d", seq, got[i-1])
		}
		if seq < final {
			periodic++
		}
	}
	if periodic < 5 {
		t.Errorf("player received only %d messages while the bad cases ran", periodic)
	}
	t.Logf("good player received %d messages while the bad cases ran, then the 5 final ones", periodic)
}

// ---- the bad inputs ----

func TestBadInput(t *testing.T) {
	h := newBIHandler()
	srv, addr, logs := startBIServer(t, ServerConfig{
		HandshakeTimeout: biHandshakeTimeout,
		IdleTimeout:      biIdleTimeout,
		MaxMessageBytes:  1 << 20,
	}, h)
	good := startBIGood(t, addr)

	// Each case names what the server must have logged about it, so a
	// close is known to come from the check the case is about.
	tests := []struct {
		name, log string
		run       func(t *testing.T)
	}{
		{"half handshake then silence", "reading C1", func(t *testing.T) {
			nc := biDial(t, addr)
			c1 := make([]byte, 1+700)
			c1[0] = 3
			biWrite(t, nc, c1)
			start := time.Now()
			d := expectClosed(t, nc, start, biHandshakeTimeout+700*time.Millisecond)
			if d < biHandshakeTimeout*8/10 {
				t.Errorf("closed after %v, before the handshake timeout of %v", d, biHandshakeTimeout)
			}
		}},
		{"C0 0x06 (RTMPE)", "RTMPE", func(t *testing.T) {
			nc := biDial(t, addr)
			biWrite(t, nc, append([]byte{0x06}, make([]byte, hsSize)...))
			expectClosed(t, nc, time.Now(), biPrompt)
		}},
		{"HTTP GET", "HTTP", func(t *testing.T) {
			nc := biDial(t, addr)
			biWrite(t, nc, []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
			expectClosed(t, nc, time.Now(), biPrompt)
		}},
		{"4 KB garbage after the handshake", "rtmp protocol violation", func(t *testing.T) {
			for seed := range uint64(4) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					nc := biDial(t, addr)
					biHandshake(t, nc)
					junk := make([]byte, 4096)
					rng := rand.New(rand.NewPCG(seed, 42))
					for i := range junk {
						junk[i] = byte(rng.Uint32())
					}
					biWrite(t, nc, junk)
					// Garbage may happen to parse as the start of a message
					// within limits: then the idle timeout ends it.
					d := expectClosed(t, nc, time.Now(), biIdleTimeout+time.Second)
					t.Logf("closed after %v (first byte %#02x)", d, junk[0])
				})
			}
		}},
		{"lying message length beyond the limit", "message of 16777215 bytes on chunk stream 3 exceeds the limit", func(t *testing.T) {
			r := newBIRaw(t, addr)
			biWrite(t, r.nc, chunkHeader0(csidCommand, 0, 1<<24-1, typeCommandAMF0, 0))
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"Set Chunk Size 0", "set chunk size 0 outside", func(t *testing.T) {
			r := newBIRaw(t, addr)
			r.send(csidControl, Header{Type: typeSetChunkSize}, be32(0))
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"Set Chunk Size 0x7FFFFFFF", "set chunk size 16777215 outside", func(t *testing.T) {
			r := newBIRaw(t, addr)
			r.send(csidControl, Header{Type: typeSetChunkSize}, be32(0x7FFFFFFF))
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"type-0 header inside a message", "type-0 header inside a message", func(t *testing.T) {
			r := newBIRaw(t, addr)
			b := chunkHeader0(csidCommand, 0, 300, typeCommandAMF0, 0)
			b = append(b, make([]byte, 128)...) // first chunk of 300 bytes
			b = append(b, chunkHeader0(csidCommand, 0, 10, typeCommandAMF0, 0)...)
			biWrite(t, r.nc, b)
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"more than 64 chunk streams", "more than 64 chunk streams", func(t *testing.T) {
			r := newBIRaw(t, addr)
			var b []byte
			for csid := uint32(3); csid < 3+maxChunkStreams+1; csid++ {
				b = append(b, chunkHeader0(csid, 0, 1, typeAudio, 1)...)
				b = append(b, 0xAF)
			}
			biWrite(t, r.nc, b)
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"more than 16 createStreams", "more than 16 streams on one connection", func(t *testing.T) {
			r := newBIRaw(t, addr)
			r.connect()
			for i := range maxStreamsPerConn {
				r.command("createStream", float64(2+i), nil)
			}
			r.result(float64(2 + maxStreamsPerConn - 1)) // all 16 answered
			r.command("createStream", float64(2+maxStreamsPerConn), nil)
			expectClosed(t, r.nc, time.Now(), biPrompt)
		}},
		{"idle after connect", "no publish or play within 1s", func(t *testing.T) {
			r := newBIRaw(t, addr)
			r.connect()
			start := time.Now()
			d := expectClosed(t, r.nc, start, biIdleTimeout+time.Second)
			if d < biIdleTimeout*8/10 {
				t.Errorf("closed after %v, before the idle timeout of %v", d, biIdleTimeout)
			}
		}},
		{"bogus AMF command is ignored", "rtmp command dropped: bad AMF", func(t *testing.T) {
			r := newBIRaw(t, addr)
			bogus := append([]byte{0x20}, []byte("\xde\xad\xbe\xef garbage")...)
			r.send(csidCommand, Header{Type: typeCommandAMF0}, bogus)
			// A truncated string as the command name: also bad AMF.
			r.send(csidCommand, Header{Type: typeCommandAMF0}, []byte{0x02, 0x00, 0x40, 'c', 'o'})
			r.connect() // still answered: the connection survived
			r.command("createStream", 2.0, nil)
			if id, _ := argAt(r.result(2), 3).(float64); id < 1 {
				t.Errorf("createStream after the bogus command: stream id %v", id)
			}
		}},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.run(t)
				if !strings.Contains(logs.String(), tt.log) {
					t.Errorf("server log lacks %q", tt.log)
				}
			})
		}
	})

	good.finish(t)
	if n := h.published.Load(); n < 10 {
		t.Errorf("handler saw %d published messages", n)
	}
	// Every bad connection is gone; the two good ones remain.
	deadline := time.Now().Add(2 * time.Second)
	for srv.Connections() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections open after the bad cases, want the 2 good ones", n)
	}
}

func TestMaxConnections(t *testing.T) {
	srv, addr, _ := startBIServer(t, ServerConfig{
		HandshakeTimeout: 2 * time.Second,
		IdleTimeout:      5 * time.Second,
		MaxConnections:   2,
	}, newBIHandler())
	first := biDial(t, addr)
	biHandshake(t, first)
	second := biDial(t, addr)
	biHandshake(t, second)
	if n := srv.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	third := biDial(t, addr)
	expectClosed(t, third, time.Now(), biPrompt)

	// Once one leaves, there is room again.
	first.Close()
	deadline := time.Now().Add(2 * time.Second)
	for srv.Connections() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fourth := biDial(t, addr)
	biHandshake(t, fourth)
	second.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := second.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("an accepted connection was closed: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
