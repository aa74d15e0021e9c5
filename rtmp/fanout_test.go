package rtmp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// loopFeed is a FanoutSubscription that hands out the next of a fixed
// list of shared messages on each Poll, as a stream does one message per
// publisher write.
type loopFeed struct {
	msgs []*remux.Message
	i    int
}

func (f *loopFeed) Next(dst []*remux.Message) ([]*remux.Message, error) { return f.Poll(dst), nil }
func (f *loopFeed) Close()                                              {}
func (f *loopFeed) FanoutKey() any                                      { return f }
func (f *loopFeed) Watch(func()) func()                                 { return func() {} }
func (f *loopFeed) Err() error                                          { return nil }
func (f *loopFeed) Poll(dst []*remux.Message) []*remux.Message {
	m := f.msgs[f.i%len(f.msgs)]
	f.i++
	return append(dst, m.Retain())
}

// newDirectPlayers returns n players on real loopback TCP connections whose
// client ends are drained, each driven by directStep as the shared writer
// does; nil if this OS has no raw writes.
func newDirectPlayers(tb testing.TB, n int) []*player {
	return newDirectPlayersOf(tb, NewServer(ServerConfig{SharedWriter: true}, nil), n)
}

func newDirectPlayersOf(tb testing.TB, srv *Server, n int) []*player {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	_, msgs, _ := newBenchPlayer(tb, 64)
	var players []*player
	for range n {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		go io.Copy(io.Discard, cc)
		sc, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { cc.Close(); sc.Close() })
		c := newConn(srv, sc)
		c.cw.chunkSize = DefaultChunkSize
		p := &player{c: c, streamID: 1, sub: &loopFeed{msgs: msgs}}
		if p.fan, p.raw = srv.fanoutFor(p); p.fan == nil {
			tb.Skip("no shared writer on this OS")
		}
		p.handback = make(chan handoff, 1)
		players = append(players, p)
	}
	return players
}

// directRound is one pass of the shared writer over players, one new
// message each, in the pass scratch ps (kept from round to round, as the
// writer's is). A player whose socket filled up (its reader lagging) is
// finished as its goroutine would, blocking; it returns how many were.
func directRound(tb testing.TB, players []*player, ps *directPass) (full int) {
	ps.now, ps.wrote = time.Now(), 0
	for _, p := range players {
		if p.directStep(ps) {
			continue
		}
		h := <-p.handback
		if !h.rest {
			tb.Fatalf("player handed back (%+v), not for a full socket", h)
		}
		if err := p.finishWrite(); err != nil {
			tb.Fatal(err)
		}
		releaseAll(h.msgs)
		full++
	}
	return full
}

// BenchmarkDirectWrite is the shared writer's pass (fanout.go): per op, one
// message to each of `players` sockets with one non-blocking writev each,
// no goroutine woken. Compare ns/msg/player with BenchmarkPlayerWritePath
// (msgs=1), which writes to a socket that discards and does not include
// the wake-up of the player's goroutine.
func BenchmarkDirectWrite(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) {
			players := newDirectPlayers(b, n)
			ps := &directPass{}
			directRound(b, players, ps)
			b.ReportAllocs()
			b.ResetTimer()
			full := 0
			for b.Loop() {
				full += directRound(b, players, ps)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg/player")
			b.ReportMetric(float64(full)/float64(b.N*n), "full/msg/player")
		})
	}
}

// TestDirectWriteZeroAllocs: in the steady state the shared writer's write
// of a shared message to a player allocates nothing. (A round in which a
// reader lagged and a socket filled takes the goroutine's blocking path,
// which may park; such a run proves nothing and is not judged.)
func TestDirectWriteZeroAllocs(t *testing.T) {
	players := newDirectPlayers(t, 4)
	ps := &directPass{}
	for range 64 {
		directRound(t, players, ps) // warm the scratch on every message size
	}
	full := 0
	if a := testing.AllocsPerRun(200, func() { full += directRound(t, players, ps) }); a != 0 && full == 0 {
		t.Errorf("%v allocations per message to 4 players, want 0", a)
	}
}

// A player whose client stops reading is handed back to its goroutine
// with the rest of the write it was in, the connection's write lock held;
// finishing it once the client reads delivers every byte the writer began,
// and they read back as the messages polled, in order: the rest, built in
// the pass's scratch, was taken over whole (vecBuilder.adopt), though the
// next players' writes reuse that scratch.
func TestDirectWriteHandsBackWhenFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	srv := NewServer(ServerConfig{SharedWriter: true}, nil)
	_, msgs, _ := newBenchPlayer(t, 64)
	c := newConn(srv, sc)
	c.cw.chunkSize = DefaultChunkSize
	p := &player{c: c, streamID: 1, sub: &loopFeed{msgs: msgs}}
	if p.fan, p.raw = srv.fanoutFor(p); p.fan == nil {
		t.Skip("no shared writer on this OS")
	}
	p.handback = make(chan handoff, 1)
	ps := &directPass{now: time.Now()}
	for p.directStep(ps) {
		if ps.wrote > 1_000_000 {
			t.Fatal("a socket nobody reads never filled up")
		}
	}
	h := <-p.handback
	if !h.rest || len(h.msgs) == 0 {
		t.Fatalf("handoff %+v, want the rest of a begun write", h)
	}
	if c.wmu.TryLock() {
		t.Fatal("the connection's write lock was released mid-write")
	}
	// Another player's write in the same scratch, as the rest of the pass
	// would make, overwrites what the rest was built in.
	ps.vb.reset()
	ps.vb.add(&chunkWriter{chunkSize: DefaultChunkSize}, csidVideo, Header{Type: typeVideo, StreamID: 1}, make([]byte, 3*DefaultChunkSize))
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, cc)
		got <- b.Bytes()
	}()
	if err := p.finishWrite(); err != nil {
		t.Fatal(err)
	}
	releaseAll(h.msgs)
	sent := int64(p.tally.bytes)
	sc.Close()
	wire := <-got
	if int64(len(wire)) != sent {
		t.Fatalf("client read %d bytes, the player sent %d", len(wire), sent)
	}
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(wire)), remux.NewPool(), 0, 0)
	if err := cr.SetChunkSize(DefaultChunkSize); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		m, _, err := cr.ReadMessage()
		if err != nil {
			break
		}
		if want := msgs[n%len(msgs)]; m.Kind != want.Kind || !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("message %d: %v of %d bytes, want %v of %d", n, m.Kind, len(m.Payload), want.Kind, len(want.Payload))
		}
		m.Release()
	}
	if uint64(n) != p.tally.messages {
		t.Errorf("client read %d messages, the player sent %d", n, p.tally.messages)
	}
}

// The write deadline the player's goroutine set (its writes carry the idle
// timeout) is kept ahead by the shared writer's writes: a player that has
// been with the writer longer than the idle timeout is not cut off.
func TestDirectWriteKeepsDeadlineAhead(t *testing.T) {
	srv := NewServer(ServerConfig{IdleTimeout: 100 * time.Millisecond, SharedWriter: true}, nil)
	players := newDirectPlayersOf(t, srv, 1)
	c := players[0].c
	c.wmu.Lock()
	c.refreshWriteDeadlineLocked() // as the goroutine's first write did
	c.wmu.Unlock()
	ps := &directPass{}
	for range 6 {
		time.Sleep(40 * time.Millisecond)
		directRound(t, players, ps)
	}
}
