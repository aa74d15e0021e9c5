package rtmp

import (
	"fmt"
	"net"
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
// cache, here 200 messages) leaves in writes of at most maxWriteSegs
// chunks plus one message, so the scratch the player keeps stays small.
func TestPlayerWriteBoundsScratch(t *testing.T) {
	p, msgs, nc := newBenchPlayer(t, 200)
	var want int64
	maxChunks := 0
	for _, m := range msgs {
		want += int64(len(m.Payload))
		maxChunks = max(maxChunks, (len(m.Payload)+DefaultChunkSize-1)/DefaultChunkSize)
	}
	if err := p.write(msgs); err != nil {
		t.Fatal(err)
	}
	if nc.n < want {
		t.Fatalf("wrote %d bytes, want at least the %d of payload", nc.n, want)
	}
	// append's doubling may take the capacity to twice what was used.
	if limit := 2 * (maxWriteSegs + maxChunks); cap(p.vb.segs) > limit || cap(p.vb.vec) > 2*limit {
		t.Errorf("scratch grew to %d segments, %d vectors after a %d-message burst; want at most %d, %d",
			cap(p.vb.segs), cap(p.vb.vec), len(msgs), limit, 2*limit)
	}
}
