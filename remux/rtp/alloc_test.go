package rtpdepack

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// ptsAsDTS stands in for mediacommon's DTS extractor where only our own
// per-frame work is measured.
type ptsAsDTS struct{}

func (ptsAsDTS) Extract(_ [][]byte, pts int64) (int64, error) { return pts, nil }

// loop replays the packets of a stream for ever: sequence numbers and
// timestamps go on from one pass to the next.
type loop struct {
	pkts   []packet
	period int64 // 90 kHz
	i      int
	seq    uint16
	off    int64
}

func newLoop(pkts []packet) *loop {
	var end int64
	for _, p := range pkts {
		end = max(end, p.pts)
	}
	return &loop{pkts: pkts, period: end + 3600}
}

func (l *loop) next() packet {
	p := l.pkts[l.i]
	p.pkt.SequenceNumber = l.seq
	p.pkt.Timestamp = uint32(p.pts + l.off)
	p.pts += l.off
	l.seq++
	if l.i++; l.i == len(l.pkts) {
		l.i, l.off = 0, l.off+l.period
	}
	return p
}

// TestVideoSteadyStateAllocs: once running, our part of a frame (the
// conversion of an access unit into a pooled message, with its tag header,
// AVCC lengths and timestamps) allocates nothing. gortsplib's RTP decoder
// and mediacommon's DTS extractor are measured by BenchmarkVideoPush.
func TestVideoSteadyStateAllocs(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		file  string
	}{{H264, "testdata/h264_aac.ts"}, {H265, "testdata/h265_aac.ts"}} {
		s := readStream(t, tc.file)
		pool := remux.NewPool()
		d, err := NewVideo(tc.codec, NewEpoch(true), pool)
		if err != nil {
			t.Fatal(err)
		}
		d.dts = ptsAsDTS{}
		var out []*remux.Message
		i := 0
		frame := func() {
			u := s.video[i%len(s.video)]
			out = d.convert(u.au, int64(i)*3600, out[:0])
			for _, m := range out {
				m.Release()
			}
			i++
		}
		for range 2 * len(s.video) { // warm the pool and the buffers
			frame()
		}
		if n := testing.AllocsPerRun(200, frame); n != 0 {
			t.Errorf("codec %d: %.1f allocations per frame", tc.codec, n)
		}
		if d.Frames < 200 {
			t.Errorf("codec %d: %d frames converted", tc.codec, d.Frames)
		}
	}
}

// pusher is a depacketizer of either kind, as the push benchmarks drive it.
type pusher interface {
	Push(p *rtp.Packet, pts int64, out []*remux.Message) []*remux.Message
}

// benchPush replays l into d for the benchmark's loop, releasing every
// message as a player would, so that the pool is in its steady state: the
// same per-packet loop for video and audio.
func benchPush(b *testing.B, l *loop, d pusher) {
	b.Helper()
	var out []*remux.Message
	b.ReportAllocs()
	for b.Loop() {
		p := l.next()
		out = d.Push(p.pkt, p.pts, out[:0])
		for _, m := range out {
			m.Release()
		}
	}
}

// BenchmarkVideoPush measures the whole per-packet path of a camera's
// video: gortsplib's rtph264/rtph265 decoder, mediacommon's DTS extractor
// and our conversion, with messages from a pool. Reported per packet.
func BenchmarkVideoPush(b *testing.B) {
	for _, tc := range []struct {
		name  string
		codec Codec
		file  string
	}{{"h264", H264, "testdata/h264_aac.ts"}, {"h265", H265, "testdata/h265_aac.ts"}} {
		b.Run(tc.name, func(b *testing.B) {
			s := readStream(b, tc.file)
			l := newLoop(packetize(b, tc.codec, s.video))
			pool := remux.NewPool()
			d, err := NewVideo(tc.codec, NewEpoch(true), pool)
			if err != nil {
				b.Fatal(err)
			}
			benchPush(b, l, d)
			if d.Dropped != 0 || d.Frames == 0 {
				b.Fatalf("%d frames, %d dropped", d.Frames, d.Dropped)
			}
			b.ReportMetric(float64(d.Frames)/float64(b.N), "frames/op")
		})
	}
}

// BenchmarkAACPush: gortsplib's mpeg4-generic decoder and our conversion,
// per packet.
func BenchmarkAACPush(b *testing.B) {
	s := readStream(b, "testdata/h264_aac.ts")
	l := newLoop(aacPackets(b, s))
	l.period = l.period - 3600 + 1024
	d, err := NewAAC(AACConfig{Config: s.aacConfig}, 48000, NewEpoch(false), remux.NewPool())
	if err != nil {
		b.Fatal(err)
	}
	benchPush(b, l, d)
	if d.Frames == 0 || d.Dropped != 0 {
		b.Fatalf("%d frames, %d dropped", d.Frames, d.Dropped)
	}
}
