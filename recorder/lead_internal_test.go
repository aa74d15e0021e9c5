package recorder

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// stubSegment records what is written to it.
type stubSegment struct {
	tracks []int
	rels   []int64
}

func (s *stubSegment) hasTrack(int) bool { return true }
func (s *stubSegment) media(t int, _ *remux.Message, _ payload, rel int64) error {
	s.tracks, s.rels = append(s.tracks, t), append(s.rels, rel)
	return nil
}
func (s *stubSegment) header(int, *remux.Message, int64) error { return nil }
func (s *stubSegment) data(*remux.Message, int64) error        { return nil }
func (s *stubSegment) sync() error                             { return nil }
func (s *stubSegment) size() int64                             { return 0 }
func (s *stubSegment) duration() int64                         { return 0 }
func (s *stubSegment) close(bool) error                        { return nil }

// TestAheadHoldBounded: audio leading a video that has stopped coming,
// past the due cut, is held up to aheadHoldMax frames (and holdMaxBytes);
// past the bound the oldest are written, in order, into the open segment,
// with one warning; video that comes releases the frames before it, in
// order; nothing is lost or written twice, and every reference is
// released.
func TestAheadHoldBounded(t *testing.T) {
	var logs bytes.Buffer
	seg := &stubSegment{}
	r := &recorder{log: slog.New(slog.NewTextHandler(&logs, nil)), stats: &Stats{},
		cfg: Config{Format: FormatFLV, SegmentDuration: time.Second}, seg: seg}
	r.haveT[trackVideo], r.lastT[trackVideo] = true, 1000
	var msgs []*remux.Message
	send := func(t int, ext int64, size int, key bool) {
		m := remux.NewMessage(remux.KindAudio, uint32(ext), make([]byte, size))
		if t == trackVideo {
			m.Kind = remux.KindVideo
			r.lastT[trackVideo] = ext
		}
		msgs = append(msgs, m)
		r.frame(t, m, payload{key: key}, ext)
		m.Release()
	}
	const n = 600
	for i := range n {
		send(trackAudio, 1000+int64(i)*23, 10, false)
	}
	if len(r.ahead) != aheadHoldMax || len(seg.rels) != n-aheadHoldMax {
		t.Fatalf("%d held, %d written; want %d held, the %d oldest written", len(r.ahead), len(seg.rels), aheadHoldMax, n-aheadHoldMax)
	}
	if w := strings.Count(logs.String(), "leads the video"); w != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", w, logs.String())
	}
	v := 1000 + 300*int64(23)
	send(trackVideo, v, 10, false)
	if got := len(seg.rels); got != 301 || seg.tracks[300] != trackVideo || len(r.ahead) != n-300 {
		t.Fatalf("after video at %d: %d written (last track %d), %d held; want the 300 audio frames before it, then it",
			v, got, seg.tracks[got-1], len(r.ahead))
	}
	r.releaseAhead(math.MaxInt64)
	if len(seg.rels) != n+1 || r.aheadBytes != 0 {
		t.Fatalf("%d written, %d bytes still held", len(seg.rels), r.aheadBytes)
	}
	for i := 1; i < len(seg.rels); i++ {
		if seg.rels[i] < seg.rels[i-1] {
			t.Fatalf("written out of order at %d: %d after %d", i, seg.rels[i], seg.rels[i-1])
		}
	}
	checkReleased(t, msgs)

	// By bytes: 1 MiB frames, at most holdMaxBytes of them held.
	seg.rels, seg.tracks, msgs = nil, nil, nil
	for i := range 6 {
		send(trackAudio, v+1+int64(i)*23, 1<<20, false)
		if r.aheadBytes > holdMaxBytes {
			t.Fatalf("%d bytes held, bound %d", r.aheadBytes, holdMaxBytes)
		}
	}
	if len(r.ahead) != holdMaxBytes>>20 || len(seg.rels) != 6-holdMaxBytes>>20 {
		t.Fatalf("%d held, %d written", len(r.ahead), len(seg.rels))
	}
	r.dropAhead()
	checkReleased(t, msgs)
}

// BenchmarkAheadHold measures frame() per message of an interleaved
// stream (audio a few ms ahead of the video) into a segment that only
// counts: "idle" outside the window where a cut is due (nothing held),
// "due" inside it (each audio frame held until the next video frame).
// Both must stay at 0 allocs per message.
func BenchmarkAheadHold(b *testing.B) {
	for _, c := range []struct {
		name string
		seg  time.Duration
	}{{"idle", time.Hour}, {"due", time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			seg := &countSegment{}
			r := &recorder{log: slog.New(slog.DiscardHandler), stats: &Stats{},
				cfg: Config{Format: FormatFLV, SegmentDuration: c.seg}, seg: seg}
			r.haveT[trackVideo] = true
			v := remux.NewMessage(remux.KindVideo, 0, make([]byte, 2000))
			a := remux.NewMessage(remux.KindAudio, 0, make([]byte, 200))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ext := 1000 + int64(i)*20
				if i%2 == 0 {
					r.lastT[trackVideo] = ext
					r.frame(trackVideo, v, payload{}, ext)
				} else {
					r.frame(trackAudio, a, payload{}, ext)
				}
			}
			b.StopTimer()
			r.releaseAhead(math.MaxInt64)
			if seg.n != b.N {
				b.Fatalf("%d written of %d", seg.n, b.N)
			}
		})
	}
}

// countSegment counts what is written to it.
type countSegment struct {
	stubSegment
	n int
}

func (s *countSegment) media(int, *remux.Message, payload, int64) error { s.n++; return nil }
