package relay

// Test helpers: a logger kept for failure reports, an in-process RTMP
// upstream (our own server) that records what is published to it, a
// synthetic publisher feeding the hub, and a black-hole listener.

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// testLogger logs to a buffer that is printed if the test fails.
func testLogger(t testing.TB) (*slog.Logger, *testenv.SyncBuf) {
	buf := &testenv.SyncBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ---- in-process upstream ----

type rec struct {
	kind remux.Kind
	ts   uint32
	key  bool
	hdr  bool
	enh  bool
}

// upSession is one publish received by the upstream.
type upSession struct {
	ci     *rtmp.ConnInfo
	name   string
	mu     sync.Mutex
	recs   []rec
	closed bool
}

func (s *upSession) Write(m *remux.Message) {
	s.mu.Lock()
	s.recs = append(s.recs, rec{m.Kind, m.Timestamp, m.IsKeyframe(), m.IsSequenceHeader(), m.Frame.Enhanced})
	s.mu.Unlock()
	m.Release()
}

func (s *upSession) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *upSession) snapshot() ([]rec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rec(nil), s.recs...), s.closed
}

func (s *upSession) video() int {
	recs, _ := s.snapshot()
	n := 0
	for _, r := range recs {
		if r.kind == remux.KindVideo && !r.hdr {
			n++
		}
	}
	return n
}

// upstream is an RTMP server that records every publish.
type upstream struct {
	addr string
	deny func(name string) bool

	mu       sync.Mutex
	sessions []*upSession
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.addr = testenv.ServeRTMP(t, u, nil)
	return u
}

func (u *upstream) OnConnect(*rtmp.ConnInfo) error { return nil }

// ConnectCaps makes the upstream answer connect like nginx-rtmp, without
// Enhanced RTMP properties (rtmp.CapsAnnouncer).
func (u *upstream) ConnectCaps(*rtmp.ConnInfo) []amf.Property { return nil }

func (u *upstream) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	if u.deny != nil && u.deny(req.Name) {
		return nil, rtmp.ErrUnauthorized
	}
	s := &upSession{ci: ci, name: req.Name}
	u.mu.Lock()
	u.sessions = append(u.sessions, s)
	u.mu.Unlock()
	return s, nil
}

func (u *upstream) OnPlay(*rtmp.ConnInfo, *rtmp.StreamRequest) (rtmp.Subscription, error) {
	return nil, rtmp.ErrStreamNotFound
}

// named returns the sessions published under name, in order.
func (u *upstream) named(name string) []*upSession {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*upSession
	for _, s := range u.sessions {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// videoOf returns the video frames received in session i of name (0 if none).
func (u *upstream) videoOf(name string, i int) int {
	ss := u.named(name)
	if i >= len(ss) {
		return 0
	}
	return ss[i].video()
}

// ---- synthetic publisher ----

// feeder publishes a synthetic stream into the hub at 4x real time: video
// every 10 ms of wall time (40 ms of media), a keyframe every 25 frames,
// and an audio frame with each video frame.
type feeder struct {
	pub    *hub.Publication
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	frames int
}

func avcStream() (meta, vhdr, ahdr []byte, frame func(key bool) []byte, audio []byte) {
	meta, _ = amf.AppendAMF0(nil, "onMetaData", amf.ECMAArray{{Key: "width", Value: 320.0}, {Key: "height", Value: 240.0}})
	vhdr = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80}
	ahdr = []byte{0xAF, 0, 0x12, 0x10}
	frame = func(key bool) []byte {
		if key {
			return append([]byte{0x17, 1, 0, 0, 0}, make([]byte, 3000)...)
		}
		return append([]byte{0x27, 1, 0, 0, 0}, make([]byte, 400)...)
	}
	return meta, vhdr, ahdr, frame, []byte{0xAF, 1, 0x21, 0x10, 5, 6}
}

// hevcStream is the same as Enhanced RTMP HEVC (ExVideoTagHeader, FourCC hvc1).
func hevcStream() (meta, vhdr, ahdr []byte, frame func(key bool) []byte, audio []byte) {
	meta, _, ahdr, _, audio = avcStream()
	vhdr = append([]byte{0x90, 'h', 'v', 'c', '1'}, 1, 2, 3, 4)
	frame = func(key bool) []byte {
		if key {
			return append([]byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0}, make([]byte, 3000)...)
		}
		return append([]byte{0xA1, 'h', 'v', 'c', '1', 0, 0, 0}, make([]byte, 400)...)
	}
	return
}

func startFeeder(t testing.TB, h *hub.Hub, app, name string, cfg hub.StreamConfig, hevc bool) *feeder {
	return startFeederSized(t, h, app, name, cfg, hevc, 1)
}

// startFeederSized is startFeeder with frames scale times larger.
func startFeederSized(t testing.TB, h *hub.Hub, app, name string, cfg hub.StreamConfig, hevc bool, scale int) *feeder {
	t.Helper()
	pub, err := h.Publish(app, name, cfg, "test feeder")
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{pub: pub, stop: make(chan struct{}), done: make(chan struct{})}
	meta, vhdr, ahdr, frame, audio := avcStream()
	if hevc {
		meta, vhdr, ahdr, frame, audio = hevcStream()
	}
	if scale > 1 {
		small := frame
		frame = func(key bool) []byte {
			b := small(key)
			return append(b, make([]byte, (scale-1)*(len(b)-5))...)
		}
	}
	write := func(k remux.Kind, ts uint32, p []byte) { pub.Write(remux.NewMessage(k, ts, p)) }
	go func() {
		defer close(f.done)
		write(remux.KindData, 0, meta)
		write(remux.KindVideo, 0, vhdr)
		write(remux.KindAudio, 0, ahdr)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			ts := uint32(i * 40)
			write(remux.KindVideo, ts, frame(i%25 == 0))
			write(remux.KindAudio, ts+3, audio)
			f.mu.Lock()
			f.frames++
			f.mu.Unlock()
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(f.end)
	return f
}

func (f *feeder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames
}

// end stops feeding and ends the publish (idempotent).
func (f *feeder) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	f.pub.Close()
}

// ---- black hole ----

// blackHole accepts TCP connections and never reads or answers.
func blackHole(t testing.TB) string {
	t.Helper()
	return serveTCP(t, nil)
}

// serveTCP listens on 127.0.0.1 and runs serve on each connection in its
// own goroutine (nil: hold it open, unread); the listener and every
// connection close when the test ends, and the serving goroutines are
// waited for.
func serveTCP(t testing.TB, serve func(c net.Conn, n int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, ln, serve)
}

// serveListener is serveTCP on a listener of the caller's.
func serveListener(t testing.TB, ln net.Listener, serve func(c net.Conn, n int)) string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			n := len(conns)
			mu.Unlock()
			if serve == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// counter is a local hub subscriber (a player, the recorder) that counts
// video frames and remembers the largest gap between their timestamps.
type counter struct {
	sub    *hub.Subscriber
	mu     sync.Mutex
	frames int
	last   uint32
	maxGap uint32
	starts int // publisher sessions seen (KindStreamStart)
	done   chan struct{}
}

func startCounter(t testing.TB, h *hub.Hub, app, name string) *counter {
	c := &counter{sub: h.Subscribe(app, name, hub.StreamConfig{GOPCache: true}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var batch []*remux.Message
		for {
			var err error
			batch, err = c.sub.Next(batch[:0])
			c.mu.Lock()
			for _, m := range batch {
				switch {
				case m.Kind == remux.KindStreamStart:
					c.starts++
					c.frames, c.last = 0, 0
				case m.Kind == remux.KindVideo && !m.IsSequenceHeader():
					if c.frames > 0 && m.Timestamp-c.last > c.maxGap {
						c.maxGap = m.Timestamp - c.last
					}
					c.frames++
					c.last = m.Timestamp
				}
				m.Release()
			}
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.sub.Close(); <-c.done })
	return c
}

func (c *counter) stats() (frames int, maxGap uint32, starts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames, c.maxGap, c.starts
}
