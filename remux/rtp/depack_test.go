package rtpdepack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// The streams in testdata are real encoder output, made with
//
//	ffmpeg -f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1.2 \
//	  -c:v libx264 -preset ultrafast -profile:v main -bf 2 -g 25 -threads 1 -c:a aac -ac 2 -b:a 64k -f mpegts h264_aac.ts
//
// and the same with -c:v libx265 -x265-params bframes=2:b-adapt=0:keyint=25:frame-threads=1:pools=1
// for h265_aac.ts: 30 frames with B-frames (x265's B-pyramid has a reorder
// depth of 2), a keyframe every 25, AAC-LC at 48 kHz. The MPEG-TS file
// carries the encoder's own PTS and DTS, which the depacketizer, given
// only RTP's presentation times, must give back.

// unit is an access unit of a test stream, times in 90 kHz.
type unit struct {
	pts, dts int64
	au       [][]byte
}

// stream is a test file demuxed.
type stream struct {
	video     []unit
	audio     []unit // au: the AAC frames of one PES packet
	aacConfig []byte
}

func readStream(t testing.TB, file string) stream {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &mpegts.Reader{R: f}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	var s stream
	clone := func(bs [][]byte) [][]byte {
		out := make([][]byte, len(bs))
		for i, b := range bs {
			out[i] = slices.Clone(b)
		}
		return out
	}
	for _, tr := range r.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				s.video = append(s.video, unit{pts, dts, clone(au)})
				return nil
			})
		case *tscodecs.H265:
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				s.video = append(s.video, unit{pts, dts, clone(au)})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			if s.aacConfig, err = c.Config.Marshal(); err != nil {
				t.Fatal(err)
			}
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				s.audio = append(s.audio, unit{pts, pts, clone(aus)})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
	}
	if len(s.video) < 25 || len(s.audio) == 0 {
		t.Fatalf("%s: %d video, %d audio units", file, len(s.video), len(s.audio))
	}
	return s
}

// packet is an RTP packet with the presentation time the RTSP client gives.
type packet struct {
	pkt *rtp.Packet
	pts int64
}

// packetize sends the video as a camera does, with gortsplib's encoders
// (an MTU of 1000 bytes: keyframes go in fragmentation units), RTP
// timestamps from a random start, presentation times relative to the
// first frame.
func packetize(t testing.TB, codec Codec, units []unit) []packet {
	t.Helper()
	var enc interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	seq := uint16(65500) // wraps early
	if codec == H265 {
		e := &rtph265.Encoder{PayloadType: 96, PayloadMaxSize: 1000, InitialSequenceNumber: &seq}
		if err := e.Init(); err != nil {
			t.Fatal(err)
		}
		enc = e
	} else {
		e := &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: 1000, InitialSequenceNumber: &seq, PacketizationMode: 1}
		if err := e.Init(); err != nil {
			t.Fatal(err)
		}
		enc = e
	}
	var out []packet
	base := uint32(0xFFFF0000) // wraps too
	for _, u := range units {
		pkts, err := enc.Encode(u.au)
		if err != nil {
			t.Fatal(err)
		}
		pts := u.pts - units[0].pts
		for _, p := range pkts {
			p.Timestamp = base + uint32(pts)
			out = append(out, packet{p, pts})
		}
	}
	return out
}

// frame is a video message seen.
type frame struct {
	dts, cts int64
	key      bool
	body     []byte // AVCC / HVCC NAL units
}

// runVideo feeds pkts and returns the header and frames it emitted.
func runVideo(t *testing.T, d *VideoDepacketizer, pkts []packet) (headers [][]byte, frames []frame) {
	t.Helper()
	var out []*remux.Message
	for _, p := range pkts {
		out = d.Push(p.pkt, p.pts, out[:0])
		for _, m := range out {
			if m.Kind != remux.KindVideo {
				t.Fatalf("message kind %v", m.Kind)
			}
			if m.IsSequenceHeader() {
				headers = append(headers, slices.Clone(m.Payload))
				continue
			}
			off := 5
			if d.codec == H265 {
				off = 8
			}
			frames = append(frames, frame{int64(m.Timestamp), int64(m.Frame.CTS), m.IsKeyframe(), slices.Clone(m.Payload[off:])})
		}
	}
	return headers, frames
}

// avcc is the body a frame of au must have: its NAL units without the
// parameter sets and delimiters, 4-byte length prefixed.
func avcc(codec Codec, au [][]byte) []byte {
	var b []byte
	for _, n := range au {
		var t int
		if codec == H265 {
			t = int(n[0]>>1) & 0x3F
			if t >= 32 && t <= 35 {
				continue
			}
		} else {
			t = int(n[0] & 0x1F)
			if t == 7 || t == 8 || t == 9 {
				continue
			}
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

// TestVideoRealStream sends an encoder's H.264 and H.265 with B-frames and
// checks what comes out: one sequence header before the first keyframe
// (the in-band parameter sets), every frame with its NAL units intact, a
// DTS that grows, CTS >= 0, and presentation times that are the encoder's
// up to one constant shift.
func TestVideoRealStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		codec     Codec
		file      string
		hdrPrefix []byte
		keyPrefix byte
	}{
		{"h264", H264, "testdata/h264_aac.ts", []byte{0x17, 0x00, 0, 0, 0, 1}, 0x17}, // AVC keyframe, sequence header, then avcC version 1
		{"h265", H265, "testdata/h265_aac.ts", []byte{0x90, 'h', 'v', 'c', '1', 1}, 0x91},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := readStream(t, tc.file)
			d, err := NewVideo(tc.codec, NewEpoch(true), remux.NewPool())
			if err != nil {
				t.Fatal(err)
			}
			headers, frames := runVideo(t, d, packetize(t, tc.codec, s.video))
			if len(headers) != 1 || !bytes.HasPrefix(headers[0], tc.hdrPrefix) {
				t.Fatalf("sequence headers % x", headers)
			}
			if len(frames) != len(s.video) || d.Dropped != 0 || d.Lost != 0 {
				t.Fatalf("%d frames of %d, dropped %d, lost %d", len(frames), len(s.video), d.Dropped, d.Lost)
			}
			shift := int64(0)
			for i, f := range frames {
				u := s.video[i]
				if !bytes.Equal(f.body, avcc(tc.codec, u.au)) {
					t.Fatalf("frame %d: body differs", i)
				}
				if i == 0 && !f.key {
					t.Fatal("first frame not a keyframe")
				}
				if i > 0 && f.dts <= frames[i-1].dts || f.cts < 0 {
					t.Fatalf("frame %d: dts %d after %d, cts %d", i, f.dts, frames[i-1].dts, f.cts)
				}
				// The DTS is the extractor's own (it may decode closer to
				// presentation than the encoder did); the presentation
				// time must be the encoder's, 1 ms of rounding either way.
				encPTS := (u.pts - s.video[0].pts) * 1000 / 90000
				if i == 0 {
					shift = f.dts + f.cts - encPTS
				}
				if d := f.dts + f.cts - encPTS - shift; d < -1 || d > 1 {
					t.Errorf("frame %d: pts %d, encoder's %d (+%d)", i, f.dts+f.cts, encPTS, shift)
				}
			}
			if cts := frames[1].cts; cts == 0 {
				t.Error("no composition offset on the second frame: B-frames lost their timing")
			}
		})
	}
}

// TestVideoLoss loses the first packet of a frame in the middle of the
// stream: that frame is not emitted (the rest of it, if it had more
// packets, is dropped as broken), the frames after it are, and the loss is
// counted.
func TestVideoLoss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec
		file  string
	}{{"h264", H264, "testdata/h264_aac.ts"}, {"h265", H265, "testdata/h265_aac.ts"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := readStream(t, tc.file)
			pkts := packetize(t, tc.codec, s.video)
			pts10 := s.video[10].pts - s.video[0].pts
			at := slices.IndexFunc(pkts, func(p packet) bool { return p.pts == pts10 })
			rest := 0 // packets of frame 10 after the lost one
			for _, p := range pkts[at+1:] {
				if p.pts == pts10 {
					rest++
				}
			}
			pkts = slices.Delete(pkts, at, at+1)
			d, err := NewVideo(tc.codec, NewEpoch(true), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, frames := runVideo(t, d, pkts)
			wantDropped := uint64(min(rest, 1))
			if d.Lost != 1 || d.Dropped != wantDropped || len(frames) != len(s.video)-1 {
				t.Fatalf("lost %d dropped %d (want %d), %d frames of %d", d.Lost, d.Dropped, wantDropped, len(frames), len(s.video))
			}
			for i := 1; i < len(frames); i++ {
				if frames[i].dts <= frames[i-1].dts {
					t.Fatalf("frame %d: dts %d after %d", i, frames[i].dts, frames[i-1].dts)
				}
			}
		})
	}
}

// TestVideoSDPParameterSets: parameter sets only in the SDP (none
// in-band) still give the sequence header and the DTS extractor its SPS.
func TestVideoSDPParameterSets(t *testing.T) {
	s := readStream(t, "testdata/h264_aac.ts")
	var sps, pps []byte
	for i, u := range s.video {
		var rest [][]byte
		for _, n := range u.au {
			switch n[0] & 0x1F {
			case 7:
				sps = n
			case 8:
				pps = n
			default:
				rest = append(rest, n)
			}
		}
		s.video[i].au = rest
	}
	d, err := NewVideo(H264, NewEpoch(true), nil, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	headers, frames := runVideo(t, d, packetize(t, H264, s.video))
	if len(headers) != 1 || len(frames) != len(s.video) {
		t.Fatalf("%d headers, %d frames of %d (dropped %d)", len(headers), len(frames), len(s.video), d.Dropped)
	}
}

// TestVideoWaitsForKeyframe: joining after the keyframe, nothing comes out
// until the next one (frame 25).
func TestVideoWaitsForKeyframe(t *testing.T) {
	s := readStream(t, "testdata/h264_aac.ts")
	pkts := packetize(t, H264, s.video)
	from := slices.IndexFunc(pkts, func(p packet) bool { return p.pts == s.video[3].pts-s.video[0].pts })
	d, err := NewVideo(H264, NewEpoch(true), nil)
	if err != nil {
		t.Fatal(err)
	}
	headers, frames := runVideo(t, d, pkts[from:])
	if len(headers) != 1 || len(frames) != len(s.video)-25 || !frames[0].key {
		t.Fatalf("%d headers, %d frames, want %d from the second keyframe", len(headers), len(frames), len(s.video)-25)
	}
}

// aacPackets sends the audio with gortsplib's mpeg4-generic encoder, one
// PES packet's frames per RTP packet.
func aacPackets(t testing.TB, s stream) []packet {
	t.Helper()
	e := &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	var out []packet
	for _, u := range s.audio {
		pkts, err := e.Encode(u.au)
		if err != nil {
			t.Fatal(err)
		}
		pts := (u.pts - s.audio[0].pts) * 48000 / 90000
		for _, p := range pkts {
			// The encoder counts from 0, 1024 samples a frame.
			out = append(out, packet{p, pts + int64(p.Timestamp)})
			p.Timestamp += uint32(pts)
		}
	}
	return out
}

// TestAACRealStream: the AudioSpecificConfig first, then every AAC frame
// intact, 1024 samples (21.33 ms at 48 kHz) apart.
func TestAACRealStream(t *testing.T) {
	s := readStream(t, "testdata/h264_aac.ts")
	ep := NewEpoch(false)
	d, err := NewAAC(AACConfig{Config: s.aacConfig}, 48000, ep, remux.NewPool())
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, u := range s.audio {
		want = append(want, u.au...)
	}
	var got []*remux.Message
	for _, p := range aacPackets(t, s) {
		got = d.Push(p.pkt, p.pts, got)
	}
	if len(got) != len(want)+1 {
		t.Fatalf("%d messages for %d frames", len(got), len(want))
	}
	if !bytes.Equal(got[0].Payload, append([]byte{0xAF, 0}, s.aacConfig...)) || !got[0].IsSequenceHeader() {
		t.Fatalf("header % x", got[0].Payload)
	}
	for i, m := range got[1:] {
		if !bytes.Equal(m.Payload, append([]byte{0xAF, 1}, want[i]...)) {
			t.Fatalf("frame %d differs", i)
		}
		if wantTS := uint32(int64(i) * 1024 * 1000 / 48000); m.Timestamp != wantTS {
			t.Fatalf("frame %d at %d ms, want %d", i, m.Timestamp, wantTS)
		}
	}
}

// TestEpoch: audio waits for the first video frame when there is video,
// and the first DTS of a B-frame stream that decodes before 0 shifts every
// track alike.
func TestEpoch(t *testing.T) {
	s := readStream(t, "testdata/h265_aac.ts")
	ep := NewEpoch(true)
	a, err := NewAAC(AACConfig{Config: s.aacConfig}, 48000, ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVideo(H265, ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	ap := aacPackets(t, s)
	if out := a.Push(ap[0].pkt, 0, nil); len(out) != 0 {
		t.Fatalf("audio before the first video frame: %d messages", len(out))
	}
	var first *remux.Message
	for _, p := range packetize(t, H265, s.video) {
		for _, m := range v.Push(p.pkt, p.pts, nil) {
			if first == nil && !m.IsSequenceHeader() {
				first = m
			}
		}
		if first != nil {
			break
		}
	}
	// x265's first frame decodes before its presentation at 0: shifted up
	// so that its DTS is 0, its PTS is the shift.
	if first == nil || first.Timestamp != 0 || first.Frame.CTS <= 0 || ep.offset != int64(first.Frame.CTS) {
		t.Fatalf("first frame %+v, epoch offset %d", first, ep.offset)
	}
	out := a.Push(ap[1].pkt, 0, nil)
	if len(out) < 2 || out[1].Timestamp != uint32(ep.offset) {
		t.Fatalf("audio at pts 0 after the video: %d messages, want one at %d ms", len(out), ep.offset)
	}
}

// TestG711: the samples pass through behind the FLV sound header.
func TestG711(t *testing.T) {
	for _, tc := range []struct {
		alaw bool
		head byte
	}{{true, 0x72}, {false, 0x82}} {
		d := NewG711(tc.alaw, NewEpoch(false), nil)
		out := d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: []byte{1, 2, 3}}, 800, nil)
		if len(out) != 1 || !bytes.Equal(out[0].Payload, []byte{tc.head, 1, 2, 3}) || out[0].Timestamp != 100 {
			t.Fatalf("alaw %v: %+v", tc.alaw, out)
		}
	}
}

// TestMillis: rounding down on both sides of 0.
func TestMillis(t *testing.T) {
	for _, tc := range []struct{ v, rate, want int64 }{
		{0, 90000, 0}, {89, 90000, 0}, {90, 90000, 1}, {-1, 90000, -1}, {-90, 90000, -1}, {-91, 90000, -2}, {48000, 48000, 1000},
	} {
		if got := millis(tc.v, tc.rate); got != tc.want {
			t.Errorf("millis(%d, %d) = %d, want %d", tc.v, tc.rate, got, tc.want)
		}
	}
}

// TestAudioStepBackDropped: a camera whose audio timestamps step back 2 s
// (issue 15) has the frames of time already sent dropped, not stacked at
// the last timestamp: a player's audio times only grow, and the track goes
// on once it passes the time it had reached.
func TestAudioStepBackDropped(t *testing.T) {
	s := readStream(t, "testdata/h264_aac.ts")
	d, err := NewAAC(AACConfig{Config: s.aacConfig}, 48000, NewEpoch(false), nil)
	if err != nil {
		t.Fatal(err)
	}
	pkts := aacPackets(t, s)
	var got []*remux.Message
	for i, p := range pkts {
		pts := p.pts
		if i >= len(pkts)/2 {
			pts -= 2 * 48000 // 2 s back from the middle on
		}
		got = d.Push(p.pkt, pts, got)
	}
	last := int64(-1)
	for _, m := range got[1:] {
		if int64(m.Timestamp) <= last {
			t.Fatalf("audio at %d ms after %d", m.Timestamp, last)
		}
		last = int64(m.Timestamp)
	}
	if d.Dropped == 0 {
		t.Error("nothing dropped")
	}
	g := NewG711(true, NewEpoch(false), nil)
	var out []*remux.Message
	for i, ms := range []int64{0, 20, 40, 60, 30, 50, 70, 80} {
		out = g.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: []byte{1, 2}}, ms*8, out)
	}
	var ts []uint32
	for _, m := range out {
		ts = append(ts, m.Timestamp)
	}
	if fmt.Sprint(ts) != "[0 20 40 60 70 80]" || g.Dropped != 2 {
		t.Errorf("G.711 at %v ms, %d dropped; want [0 20 40 60 70 80] and 2", ts, g.Dropped)
	}
}
