package hub

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// fanoutFeed produces the publisher side of the fan-out benchmarks: 25 fps
// AVC video from a pool, 1-4 KB inter frames and a 5 KB keyframe every 50
// frames.
type fanoutFeed struct {
	pool *remux.Pool
	seq  int
}

// frameTS is the timestamp step; a message's sequence number is ts/frameTS.
const frameTS = 40

func (f *fanoutFeed) next() *remux.Message {
	// Sizes repeat with the GOP, so the ring's demand on each pool size
	// class is periodic and a warm-up of a few GOPs reaches steady state.
	size := 1024 + (f.seq%50*997)%3072
	hdr := byte(0x27)
	if f.seq%50 == 0 {
		size, hdr = 5000, 0x17
	}
	m := f.pool.Get(size)
	m.Payload[0] = hdr
	m.Payload[1], m.Payload[2], m.Payload[3], m.Payload[4] = 1, 0, 0, 0
	m.Kind = remux.KindVideo
	m.Timestamp = uint32(f.seq * frameTS)
	m.Parse()
	f.seq++
	return m
}

func newFanoutStream(tb testing.TB, subs int) (*Publication, []*Subscriber, *fanoutFeed) {
	tb.Helper()
	h := New(slog.New(slog.DiscardHandler))
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "bench", cfg, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	feed := &fanoutFeed{pool: remux.NewPool()}
	hdr := feed.pool.Get(len(avcSeqHeader))
	copy(hdr.Payload, avcSeqHeader)
	hdr.Kind = remux.KindVideo
	hdr.Parse()
	p.Write(hdr)
	list := make([]*Subscriber, subs)
	for i := range list {
		list[i] = h.Subscribe("live", "bench", cfg)
	}
	return p, list, feed
}

// fanoutRound publishes one message and lets every subscriber take it
// synchronously. It returns the payload bytes the subscribers received that
// do not alias the published buffer (0 when the fan-out copies nothing).
func fanoutRound(tb testing.TB, p *Publication, subs []*Subscriber, dsts [][]*remux.Message, feed *fanoutFeed) (copied int) {
	m := feed.next()
	want := &m.Payload[0]
	p.Write(m) // m stays valid: the ring holds a reference
	for i, sub := range subs {
		got, err := sub.Next(dsts[i][:0])
		if err != nil {
			tb.Fatalf("subscriber %d: %v", i, err)
		}
		for j, g := range got {
			if g.IsSequenceHeader() {
				g.Release()
				got[j] = nil
				continue
			}
			if &g.Payload[0] != want {
				copied += len(g.Payload)
			}
			g.Release()
			got[j] = nil
		}
		dsts[i] = got[:0]
	}
	return copied
}

// BenchmarkFanout measures the per-message cost of the hub's fan-out: one
// op is one message written by the publisher and taken (Next + Release) by
// each of N subscribers, synchronously in the benchmark goroutine.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			p, subs, feed := newFanoutStream(b, n)
			defer func() {
				for _, s := range subs {
					s.Close()
				}
				p.Close()
			}()
			dsts := make([][]*remux.Message, n)
			for i := range dsts {
				dsts[i] = make([]*remux.Message, 0, 8)
			}
			// Warm up: fill the ring to its steady size (the GOP cache and
			// the 5 s lag window) and the pool with the buffers it holds.
			for range 500 {
				fanoutRound(b, p, subs, dsts, feed)
			}
			copied := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				copied += fanoutRound(b, p, subs, dsts, feed)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/float64(n), "ns/msg/sub")
			b.ReportMetric(float64(copied)/float64(b.N), "payload-copies/msg")
		})
	}
}

// TestFanoutSteadyStateAllocs asserts BenchmarkFanout's 0 allocs/op.
func TestFanoutSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	for _, n := range []int{1, 100} {
		p, subs, feed := newFanoutStream(t, n)
		dsts := make([][]*remux.Message, n)
		for range 500 {
			fanoutRound(t, p, subs, dsts, feed)
		}
		allocs := testing.AllocsPerRun(200, func() { fanoutRound(t, p, subs, dsts, feed) })
		if allocs != 0 {
			t.Errorf("subs=%d: %v allocations per message, want 0", n, allocs)
		}
		for _, s := range subs {
			s.Close()
		}
		p.Close()
	}
}

// TestFanoutSharesPayload checks that fan-out never copies: every subscriber
// receives the same *remux.Message, hence the same payload bytes, as the
// publisher wrote, and holds exactly one reference to it.
func TestFanoutSharesPayload(t *testing.T) {
	const n = 100
	p, subs, feed := newFanoutStream(t, n)
	var published []*remux.Message
	for range 60 { // more than a GOP, so the ring holds two keyframes
		m := feed.next()
		published = append(published, m)
		p.Write(m)
	}
	got := make([][]*remux.Message, n)
	for i, sub := range subs {
		var err error
		got[i], err = sub.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	// Subscribers joined before any keyframe, so each gets the sequence
	// header and then all 60 messages.
	for i := range got {
		if len(got[i]) != 1+len(published) {
			t.Fatalf("subscriber %d got %d messages, want %d", i, len(got[i]), 1+len(published))
		}
		if !got[i][0].IsSequenceHeader() || got[i][0] != got[0][0] {
			t.Fatalf("subscriber %d: first message is not the shared sequence header", i)
		}
	}
	tail := p.s.tail
	for k, m := range published {
		want := &m.Payload[0]
		for i := range got {
			g := got[i][1+k]
			if g != m {
				t.Fatalf("message %d: subscriber %d got message %p, publisher wrote %p", k, i, g, m)
			}
			if &g.Payload[0] != want {
				t.Fatalf("message %d: subscriber %d payload at %p, publisher's at %p", k, i, &g.Payload[0], want)
			}
		}
		// The ring's reference (while still in the ring) plus one per subscriber.
		ring := int32(0)
		if uint64(k)+1 >= tail { // seq 0 is the sequence header
			ring = 1
		}
		if r := m.Refs(); r != ring+n {
			t.Errorf("message %d: %d references, want %d (ring %d + %d subscribers)", k, r, ring+n, ring, n)
		}
	}
	for i := range got {
		for _, g := range got[i] {
			g.Release()
		}
	}
	for k, m := range published {
		if uint64(k)+1 >= tail && m.Refs() != 1 {
			t.Errorf("message %d: %d references after the subscribers released, want 1 (the ring)", k, m.Refs())
		}
	}
	for _, s := range subs {
		s.Close()
	}
	p.Close()
}

// fanoutSubState is one subscriber goroutine's progress, padded to its own
// cache line.
type fanoutSubState struct {
	progress atomic.Int64 // sequence number of the last message received, +1
	nexts    atomic.Int64 // Next calls that returned messages
	msgs     atomic.Int64 // messages received
	_        [40]byte
}

// BenchmarkFanoutGoroutines is the fan-out with real wake-ups: every
// subscriber is a goroutine blocking in Next, as rtmp players are. The
// publisher writes as fast as the subscribers keep up (it stays at most
// 64 messages ahead of the slowest, well inside the lag bounds, so nobody
// skips); one op is one message delivered to all N subscribers.
func BenchmarkFanoutGoroutines(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			p, subs, feed := newFanoutStream(b, n)
			states := make([]fanoutSubState, n)
			var wg sync.WaitGroup
			for i, sub := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := &states[i]
					dst := make([]*remux.Message, 0, 128)
					for {
						got, err := sub.Next(dst[:0])
						if err != nil {
							return
						}
						var last int64 = -1
						for j, g := range got {
							if g.Kind == remux.KindVideo && !g.IsSequenceHeader() {
								last = int64(g.Timestamp / frameTS)
							}
							g.Release()
							got[j] = nil
						}
						st.nexts.Add(1)
						st.msgs.Add(int64(len(got)))
						if last >= 0 {
							st.progress.Store(last + 1)
						}
						dst = got
					}
				}()
			}
			slowest := func() int64 {
				low := states[0].progress.Load()
				for i := range states {
					low = min(low, states[i].progress.Load())
				}
				return low
			}
			const window, check = 64, 16
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if i%check == 0 {
					for int64(i)-slowest() > window-check {
						runtime.Gosched()
					}
				}
				p.Write(feed.next())
			}
			deadline := time.Now().Add(time.Minute)
			for slowest() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("subscribers stuck at %d of %d messages", slowest(), b.N)
				}
				runtime.Gosched()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			for _, s := range subs {
				s.Close()
			}
			wg.Wait()
			p.Close()
			var nexts, msgs, skips int64
			for i := range states {
				nexts += states[i].nexts.Load()
				msgs += states[i].msgs.Load()
				skips += int64(subs[i].Skips())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(msgs)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(msgs)/float64(max(nexts, 1)), "msgs/wakeup")
			b.ReportMetric(float64(skips), "skips")
		})
	}
}

// Enhanced Broadcasting (OBS 30.2+, ffmpeg 8; enhanced-rtmp.md §5) sends
// track 0 as plain legacy AVC and the other renditions as Multitrack
// packets on the same message stream. A player that joins late must still
// get track 0's AVC sequence header and start track 0 at a keyframe: the
// doc's "keep sequence headers, GOP cache and timestamps per (media type,
// trackId)". Today the stream keeps one video header, the last one seen,
// and one lastKey, whatever the track.
func TestMultitrackKeepsTrackZeroHeaderAndKeyframe(t *testing.T) {
	mt := func(frameType, packetType byte, track byte, body ...byte) []byte {
		return append([]byte{0x80 | frameType<<4 | 6, packetType, 'a', 'v', 'c', '1', track}, body...)
	}
	h := New(slog.New(slog.DiscardHandler))
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "eb", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))                        // track 0
	p.Write(msg(remux.KindVideo, 0, mt(1, 0, 1, 0x01, 0x4D, 0x00, 0x1E))) // track 1 SequenceStart
	p.Write(msg(remux.KindVideo, 0, avcKey))                              // track 0 keyframe
	p.Write(msg(remux.KindVideo, 0, mt(1, 1, 1, 0, 0, 0, 'k')))           // track 1 keyframe
	p.Write(msg(remux.KindVideo, 40, avcInter))                           // track 0
	p.Write(msg(remux.KindVideo, 40, mt(2, 1, 1, 0, 0, 0, 'i')))          // track 1

	sub := h.Subscribe("live", "eb", cfg)
	defer sub.Close()
	got := drain(t, sub)
	var legacyHeader, track0Started bool
	var track0 []string
	for _, m := range got {
		if m.Payload[0]&0x80 == 0 { // legacy packet: track 0
			switch {
			case m.IsSequenceHeader():
				legacyHeader = true
				track0 = append(track0, "H")
			case m.IsKeyframe():
				track0 = append(track0, "K")
				if len(track0) == 1 || track0[len(track0)-2] == "H" {
					track0Started = true
				}
			default:
				track0 = append(track0, "i")
			}
		}
		m.Release()
	}
	if !legacyHeader {
		t.Errorf("late joiner got no legacy AVC sequence header for track 0 (track 0: %v)", track0)
	}
	if !track0Started {
		t.Errorf("late joiner's track 0 does not start with a keyframe: %v", track0)
	}
}
