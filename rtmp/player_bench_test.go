package rtmp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// discardConn is a net.Conn whose writes succeed and keep nothing.
type discardConn struct {
	net.Conn
	n int64
}

func (d *discardConn) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (d *discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (d *discardConn) Close() error                     { return nil }

// newBenchPlayer is a player on a connection that discards its output,
// with the pooled, parsed messages of benchStream as the shared input.
func newBenchPlayer(tb testing.TB, n int) (*player, []*remux.Message, *discardConn) {
	srv := NewServer(ServerConfig{}, nil)
	nc := &discardConn{}
	c := newConn(srv, nc)
	c.cw.chunkSize = DefaultChunkSize
	pool := remux.NewPool()
	_, gen := benchStream(n, DefaultChunkSize, 6)
	msgs := make([]*remux.Message, 0, len(gen))
	for _, g := range gen {
		m := pool.Get(len(g.body))
		copy(m.Payload, g.body)
		m.Kind = remux.Kind(g.h.Type)
		m.Timestamp = g.h.Timestamp
		m.Parse()
		msgs = append(msgs, m)
	}
	tb.Cleanup(func() {
		for _, m := range msgs {
			m.Release()
		}
	})
	return &player{c: c, streamID: 1}, msgs, nc
}

// BenchmarkPlayerWritePath is the whole write of one player wake-up as the
// player loop runs it (player.write: timestamp rebasing, chunk headers,
// write deadline, the vectored write; the pacer adds two clock reads per
// wake-up in player.run), with `per` messages queued per wake-up: 1 is an
// idle player writing each message at once, 4 and 16 are merged writes.
// One op is one wake-up; the time per message per player is ns/msg.
func BenchmarkPlayerWritePath(b *testing.B) {
	for _, per := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("msgs=%d", per), func(b *testing.B) {
			p, msgs, nc := newBenchPlayer(b, 64)
			i := 0
			next := func() []*remux.Message {
				if i+per > len(msgs) {
					i = 0
					// Time starts over: a type-0 header, as after a seek.
					p.haveBase = false
				}
				batch := msgs[i : i+per]
				i += per
				return batch
			}
			if err := p.write(next()); err != nil {
				b.Fatal(err)
			}
			nc.n = 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := p.write(next()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/msg")
			b.ReportMetric(float64(nc.n)/float64(b.N*per), "B/msg")
		})
	}
}

// TestPlayerWritePathZeroAllocs: in the steady state a player's write of
// shared messages allocates nothing, whether one message or many leave.
func TestPlayerWritePathZeroAllocs(t *testing.T) {
	for _, per := range []int{1, 8} {
		p, msgs, _ := newBenchPlayer(t, 64)
		i := 0
		write := func() {
			if i+per > len(msgs) {
				i = 0
				p.haveBase = false
			}
			if err := p.write(msgs[i : i+per]); err != nil {
				t.Fatal(err)
			}
			i += per
		}
		for range len(msgs) / per {
			write() // warm the scratch buffers on every message size
		}
		if a := testing.AllocsPerRun(200, write); a != 0 {
			t.Errorf("%d messages per write: %v allocations, want 0", per, a)
		}
	}
}

// TestPlayerWriteBoundsScratch: the burst a joining player gets (the GOP
// cache, here 200 messages, with a keyframe of more than maxWriteSegs
// chunks in it) leaves in writes of at most maxWriteSegs chunks, a large
// message split across writes, so the scratch the player keeps (and the
// socket's iovec array) stays at that size; the client reads back every
// message intact.
func TestPlayerWriteBoundsScratch(t *testing.T) {
	p, msgs, _ := newBenchPlayer(t, 200)
	nc := &recordConn{}
	p.c.nc = nc
	big := remux.NewMessage(remux.KindVideo, msgs[len(msgs)-1].Timestamp, make([]byte, (maxWriteSegs+8)*DefaultChunkSize+100))
	for i := range big.Payload {
		big.Payload[i] = byte(i * 7)
	}
	big.Payload[0], big.Payload[1] = 0x17, 0x01
	big.Parse()
	msgs = append(msgs, big)
	if err := p.write(msgs); err != nil {
		t.Fatal(err)
	}
	// Allocation size classes round an array up by up to a quarter.
	if limit := 2 * maxWriteSegs * 5 / 4; cap(p.vb.vec) > limit {
		t.Errorf("scratch grew to %d vectors after a %d-message burst; want at most %d", cap(p.vb.vec), len(msgs), limit)
	}
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(nc.buf.Bytes())), remux.NewPool(), 0, 0)
	cr.SetChunkSize(DefaultChunkSize)
	for i, want := range msgs {
		m, h, err := cr.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, len(msgs), err)
		}
		if h.Type != uint8(want.Kind) || !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("message %d: type %d, %d bytes; want type %d, %d bytes as sent", i, h.Type, len(m.Payload), want.Kind, len(want.Payload))
		}
		m.Release()
	}
}

// recordConn keeps what is written to it.
type recordConn struct {
	discardConn
	buf bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) { return c.buf.Write(p) }

// feedSub is a Subscription and Poller over a channel of messages.
type feedSub struct {
	ch     chan *remux.Message
	polls  atomic.Int64
	closed chan struct{}
}

func (f *feedSub) Next(dst []*remux.Message) ([]*remux.Message, error) {
	select {
	case m := <-f.ch:
		return append(dst, m), nil
	case <-f.closed:
		return dst, errors.New("closed")
	}
}

func (f *feedSub) Poll(dst []*remux.Message) []*remux.Message {
	f.polls.Add(1)
	for {
		select {
		case m := <-f.ch:
			dst = append(dst, m)
		default:
			return dst
		}
	}
}

func (f *feedSub) Close() {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
}

// timedConn records when each byte count was written.
type timedConn struct {
	discardConn
	mu     sync.Mutex
	writes []time.Time
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, time.Now())
	c.mu.Unlock()
	return c.discardConn.Write(p)
}

// With a wide adaptive window (many players on the server), a message that
// comes soon after a write is held for the rest of the window and leaves
// with the ones that came meanwhile; the first goes at once.
func TestPlayerHoldsForTheWindow(t *testing.T) {
	srv := NewServer(ServerConfig{}, nil)
	srv.pacer.players.Store(100000) // window capped: autoMaxBatch
	srv.pacer.costNs.Store(int64(20 * time.Microsecond))
	nc := &timedConn{}
	c := newConn(srv, nc)
	c.cw.chunkSize = DefaultChunkSize
	sub := &feedSub{ch: make(chan *remux.Message, 16), closed: make(chan struct{})}
	p := startPlayer(c, 1, sub, 0, nil)
	frame := func(ts uint32) *remux.Message {
		m := remux.NewMessage(remux.KindVideo, ts, []byte{0x17, 1, 0, 0, 0, 'x'})
		m.Parse()
		return m
	}
	start := time.Now()
	sub.ch <- frame(0)
	time.Sleep(5 * time.Millisecond)
	for ts := uint32(40); ts <= 120; ts += 40 {
		sub.ch <- frame(ts)
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(autoMaxBatch + 20*time.Millisecond)
	p.stop()
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if len(nc.writes) == 0 {
		t.Fatal("nothing written")
	}
	if first := nc.writes[0].Sub(start); first > autoMaxBatch/2 {
		t.Errorf("first message written after %v, want at once", first)
	}
	last := nc.writes[len(nc.writes)-1].Sub(start)
	if last < autoMaxBatch-5*time.Millisecond || last > autoMaxBatch+15*time.Millisecond {
		t.Errorf("held messages written %v after the first write, want about one window (%v)", last, autoMaxBatch)
	}
	if sub.polls.Load() == 0 {
		t.Error("the held write did not Poll for what came meanwhile")
	}
	// A type-0 header (12 B) on the first frame, type-2 (4 B) on the rest.
	if want := int64(12 + 6 + 3*(4+6)); nc.n != want {
		t.Errorf("wrote %d bytes, want the four frames' %d", nc.n, want)
	}
}
