package rtpdepack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

var (
	testSPS = []byte{0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x47, 0xFE, 0xC8}
	testPPS = []byte{0x68, 0xCE, 0x3C, 0x80}
)

// au is one H.264 access unit to send: its NAL units.
type au [][]byte

func nal(t byte, n int, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	b[0] = 0x60 | t
	b[1] = 0x88 // first_mb_in_slice 0
	return b
}

// packetizeH264 packs access units into RTP packets the way a camera does:
// small NALs of one AU in a STAP-A, large ones in FU-As of at most mtu.
func packetizeH264(aus []au, seq uint16, ts uint32, step uint32, mtu int) []*rtp.Packet {
	tss := make([]uint32, len(aus))
	for i := range tss {
		tss[i] = ts + uint32(i)*step
	}
	return packetizeH264At(aus, seq, tss, mtu)
}

// packetizeH264At is packetizeH264 with the RTP timestamp of each AU given.
func packetizeH264At(aus []au, seq uint16, tss []uint32, mtu int) []*rtp.Packet {
	var pkts []*rtp.Packet
	emit := func(payload []byte, t uint32) {
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: t}, Payload: payload})
		seq++
	}
	for i, a := range aus {
		t := tss[i]
		var stap []byte
		flush := func() {
			if stap != nil {
				emit(stap, t)
				stap = nil
			}
		}
		for _, n := range a {
			if len(n)+3 <= mtu-len(stap) && len(n) < mtu/2 {
				if stap == nil {
					stap = []byte{24}
				}
				stap = binary.BigEndian.AppendUint16(stap, uint16(len(n)))
				stap = append(stap, n...)
				continue
			}
			flush()
			if len(n) <= mtu {
				emit(n, t)
				continue
			}
			body := n[1:]
			for j := 0; j < len(body); j += mtu - 2 {
				end := min(j+mtu-2, len(body))
				fu := []byte{n[0]&0xE0 | 28, n[0] & 0x1F}
				if j == 0 {
					fu[1] |= 0x80
				}
				if end == len(body) {
					fu[1] |= 0x40
				}
				emit(append(fu, body[j:end]...), t)
			}
		}
		flush()
		pkts[len(pkts)-1].Marker = true
	}
	return pkts
}

// gop returns n access units: an IDR with SPS/PPS, then P frames; frames
// alternate between large (fragmented) and small sizes.
func gop(n int) []au {
	var aus []au
	for i := range n {
		size := 3000
		if i%2 == 1 {
			size = 300
		}
		if i == 0 {
			aus = append(aus, au{{0x09, 0xF0}, testSPS, testPPS, nal(5, size, byte(i))})
		} else {
			aus = append(aus, au{nal(1, size, byte(i))})
		}
	}
	return aus
}

type result struct {
	headers, keys, frames int
	ts                    []uint32
	cts                   []int32
	fills                 []byte // first payload byte of each frame's NAL body: which AU
}

func run(t *testing.T, d Depacketizer, pkts []*rtp.Packet) result {
	t.Helper()
	var r result
	var out []*remux.Message
	for _, p := range pkts {
		out = d.Push(p, out[:0])
		for _, m := range out {
			switch {
			case m.IsSequenceHeader():
				r.headers++
			default:
				r.frames++
				if m.IsKeyframe() {
					r.keys++
				}
				r.ts = append(r.ts, m.Timestamp)
				r.cts = append(r.cts, m.Frame.CTS)
				if m.Kind == remux.KindVideo {
					// verify AVCC framing covers the whole body exactly
					b := m.Payload[5:]
					if m.Frame.Enhanced {
						b = m.Payload[8:]
					}
					r.fills = append(r.fills, b[6])
					for len(b) > 0 {
						n := int(binary.BigEndian.Uint32(b))
						if n+4 > len(b) {
							t.Fatalf("bad AVCC framing")
						}
						b = b[4+n:]
					}
				}
			}
			m.Release()
		}
	}
	return r
}

func TestH264Depacketize(t *testing.T) {
	const step = 3600 // 25 fps at 90 kHz
	tests := []struct {
		name       string
		seq        uint16
		ts         uint32
		mangle     func([]*rtp.Packet) []*rtp.Packet
		reorder    int
		wantFrames int
		wantFills  string
		monotonic  bool
	}{
		{name: "in order", wantFrames: 10, wantFills: "0123456789"},
		{name: "sequence and timestamp wrap", seq: 65530, ts: 0xFFFFFFFF - 3*step, wantFrames: 10, wantFills: "0123456789"},
		{name: "lost middle fragment of frame 2", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 2*step) + 1
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 9, wantFills: "013456789"},
		{name: "lost first fragment of frame 4", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 4*step)
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 9, wantFills: "012356789"},
		{name: "lost marker packet of frame 3 (single)", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 3*step)
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 9, wantFills: "012456789"},
		{name: "lost last fragment of frame 6", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 7*step) - 1
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 9, wantFills: "012345789"},
		{name: "lost keyframe: nothing until one arrives", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 0) + 1
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 0, wantFills: ""},
		{name: "duplicates ignored", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			var o []*rtp.Packet
			for _, x := range p {
				o = append(o, x, x)
			}
			return o
		}, wantFrames: 10, wantFills: "0123456789"},
		{name: "reordered, with reorder buffer", reorder: 8, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			for i := 1; i+1 < len(p); i += 3 {
				p[i], p[i+1] = p[i+1], p[i]
			}
			return p
		}, wantFrames: 10, wantFills: "0123456789"},
		{name: "reordered across wrap, with reorder buffer", seq: 65533, ts: 0xFFFFFFFF - 2*step, reorder: 8, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			for i := 1; i+2 < len(p); i += 4 {
				p[i], p[i+2] = p[i+2], p[i]
			}
			return p
		}, wantFrames: 10, wantFills: "0123456789"},
		{name: "reordered without buffer drops frames, not the stream", mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 5*step)
			p[i], p[i+1] = p[i+1], p[i]
			return p
		}, wantFrames: 9, wantFills: "012346789"},
		{name: "loss beyond the reorder window", reorder: 4, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 8*step)
			return append(p[:i:i], p[i+1:]...)
		}, wantFrames: 9, wantFills: "012345679"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts := packetizeH264(gop(10), tt.seq, tt.ts, step, 1200)
			pkts = damage(pkts, tt.ts, tt.mangle, tt.reorder)
			d := NewVideo(H264, NewTimeline(90000), remux.NewPool())
			r := run(t, d, pkts)
			if r.frames != tt.wantFrames {
				t.Fatalf("frames = %d, want %d (lost %d dropped %d)", r.frames, tt.wantFrames, d.Lost, d.Dropped)
			}
			var fills string
			for _, f := range r.fills {
				fills += fmt.Sprint(f)
			}
			if fills != tt.wantFills {
				t.Errorf("frames %q, want %q", fills, tt.wantFills)
			}
			if r.frames > 0 && (r.headers != 1 || r.keys != 1) {
				t.Errorf("headers %d keys %d, want 1 1", r.headers, r.keys)
			}
			for i := 1; i < len(r.ts); i++ {
				if r.ts[i] < r.ts[i-1] {
					t.Errorf("timestamps not monotonic: %v", r.ts)
				}
			}
			// Timestamps are 40 ms apart by AU index (fill byte).
			for i, f := range r.fills {
				if want := uint32(f) * 40; r.ts[i] != want {
					t.Errorf("frame %d ts %d, want %d", f, r.ts[i], want)
				}
			}
		})
	}
}

func firstOfTS(p []*rtp.Packet, ts uint32) int {
	for i, x := range p {
		if x.Timestamp == ts {
			return i
		}
	}
	panic("no such ts")
}

func TestH264SDPParameterSets(t *testing.T) {
	// Camera sends no in-band SPS/PPS: those from the SDP make the header.
	aus := gop(3)
	aus[0] = au{nal(5, 2000, 0)}
	pkts := packetizeH264(aus, 1, 1, 3000, 1400)
	d := NewVideo(H264, NewTimeline(90000), nil, testSPS, testPPS)
	var out []*remux.Message
	for _, p := range pkts {
		out = d.Push(p, out)
	}
	if len(out) != 4 || !out[0].IsSequenceHeader() || !out[1].IsKeyframe() {
		t.Fatalf("got %d messages", len(out))
	}
	want := AVCRecord(testSPS, testPPS)
	if !bytes.Equal(out[0].Payload[5:], want) || out[0].Payload[0] != 0x17 || out[0].Payload[1] != 0 {
		t.Errorf("header % x", out[0].Payload)
	}
	if out[1].Payload[0] != 0x17 || out[2].Payload[0] != 0x27 || out[1].Payload[1] != 1 {
		t.Errorf("frame tags % x / % x", out[1].Payload[:5], out[2].Payload[:5])
	}
	// A changed SPS in-band produces a new header before the next frame.
	sps2 := append(bytes.Clone(testSPS), 0x55)
	more := packetizeH264([]au{{sps2, testPPS, nal(5, 100, 9)}}, pkts[len(pkts)-1].SequenceNumber+1, 1+3*3000, 3000, 1400)
	out = out[:0]
	for _, p := range more {
		out = d.Push(p, out)
	}
	if len(out) != 2 || !out[0].IsSequenceHeader() || !bytes.Contains(out[0].Payload, sps2) {
		t.Fatalf("no new header after SPS change: %d", len(out))
	}
}

func TestH265Depacketize(t *testing.T) {
	vps := []byte{0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF, 0x01, 0x60, 0, 0, 3, 0, 0x90}
	sps := []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5D, 0xA0, 0x02}
	pps := []byte{0x44, 0x01, 0xC1, 0x72, 0xB4, 0x62, 0x40}
	h := func(t byte, n int, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, n)
		b[0], b[1], b[2] = t<<1, 1, 0x80|fill
		return b
	}
	var pkts []*rtp.Packet
	seq := uint16(65534)
	add := func(ts uint32, marker bool, payload []byte) {
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload})
		seq++
	}
	// AU 0: AP with VPS/SPS/PPS, then IDR_W_RADL (19) in three FUs.
	ap := []byte{48 << 1, 1}
	for _, n := range [][]byte{vps, sps, pps} {
		ap = binary.BigEndian.AppendUint16(ap, uint16(len(n)))
		ap = append(ap, n...)
	}
	add(0, false, ap)
	idr := h(19, 2500, 7)
	add(0, false, append([]byte{49 << 1, 1, 0x80 | 19}, idr[2:1000]...))
	add(0, false, append([]byte{49 << 1, 1, 19}, idr[1000:2000]...))
	add(0, true, append([]byte{49 << 1, 1, 0x40 | 19}, idr[2000:]...))
	// AU 1: single TRAIL_R (1); AU 2: FU with a lost middle; AU 3: single.
	add(3000, true, h(1, 100, 8))
	add(6000, false, append([]byte{49 << 1, 1, 0x80 | 1}, bytes.Repeat([]byte{9}, 900)...))
	seq++ // lost
	add(6000, true, append([]byte{49 << 1, 1, 0x40 | 1}, bytes.Repeat([]byte{9}, 900)...))
	add(9000, true, h(1, 100, 10))

	d := NewVideo(H265, NewTimeline(90000), nil)
	var out []*remux.Message
	for _, p := range pkts {
		out = d.Push(p, out)
	}
	if len(out) != 4 {
		t.Fatalf("got %d messages, want header + 3 frames", len(out))
	}
	hdr := out[0]
	if !hdr.IsSequenceHeader() || hdr.Frame.Codec != remux.CodecHEVC || !hdr.Frame.Enhanced {
		t.Fatalf("header frame %+v", hdr.Frame)
	}
	rec := hdr.Payload[5:]
	if rec[0] != 1 || rec[1] != 0x01 || rec[12] != 0x5D || rec[22] != 3 {
		t.Errorf("record % x", rec[:23])
	}
	if !out[1].IsKeyframe() || out[1].Payload[0] != 0x91 || len(out[1].Payload) != 8+4+2500 {
		t.Errorf("key frame % x len %d", out[1].Payload[:8], len(out[1].Payload))
	}
	if out[2].IsKeyframe() || out[2].Timestamp != 33 || out[3].Timestamp != 100 {
		t.Errorf("ts %d %d", out[2].Timestamp, out[3].Timestamp)
	}
	if d.Dropped != 1 {
		t.Errorf("dropped %d, want 1", d.Dropped)
	}
}

func aacPacket(seq uint16, ts uint32, marker bool, hdrSizes []int, data []byte) *rtp.Packet {
	p := []byte{0, byte(16 * len(hdrSizes))}
	for _, n := range hdrSizes {
		p = binary.BigEndian.AppendUint16(p, uint16(n<<3))
	}
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: append(p, data...)}
}

func TestAACDepacketize(t *testing.T) {
	asc := []byte{0x12, 0x10}
	fr := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }
	ts0 := uint32(0xFFFFFFFF - 1500) // wraps after the second packet
	pkts := []*rtp.Packet{
		aacPacket(65535, ts0, true, []int{10}, fr(1, 10)),
		aacPacket(0, ts0+1024, true, []int{20, 30}, append(fr(2, 20), fr(3, 30)...)),
		// a 100-byte AU fragmented over three packets
		aacPacket(1, ts0+3*1024, false, []int{100}, fr(4, 40)),
		aacPacket(2, ts0+3*1024, false, []int{100}, fr(4, 40)),
		aacPacket(3, ts0+3*1024, true, []int{100}, fr(4, 20)),
		// a fragmented AU whose middle is lost: dropped
		aacPacket(4, ts0+4*1024, false, []int{100}, fr(5, 40)),
		aacPacket(6, ts0+4*1024, true, []int{100}, fr(5, 20)),
		aacPacket(7, ts0+5*1024, true, []int{10}, fr(6, 10)),
		// reordered (late) packet: dropped as stale
		aacPacket(5, ts0+4*1024, false, []int{100}, fr(5, 40)),
		aacPacket(8, ts0+6*1024, true, []int{10}, fr(7, 10)),
	}
	d := NewAAC(AACConfig{Config: asc}, NewTimeline(48000), nil)
	var out []*remux.Message
	for _, p := range pkts {
		out = d.Push(p, out)
	}
	if len(out) < 1 || !out[0].IsSequenceHeader() || !bytes.Equal(out[0].Payload, []byte{0xAF, 0, 0x12, 0x10}) {
		t.Fatalf("no AAC header first")
	}
	var got string
	var ts []uint32
	for _, m := range out[1:] {
		if m.Payload[0] != 0xAF || m.Payload[1] != 1 {
			t.Fatalf("bad tag % x", m.Payload[:2])
		}
		got += fmt.Sprintf("%d:%d ", m.Payload[2], len(m.Payload)-2)
		ts = append(ts, m.Timestamp)
	}
	if want := "1:10 2:20 3:30 4:100 6:10 7:10 "; got != want {
		t.Errorf("frames %q, want %q", got, want)
	}
	wantTS := []uint32{0, 21, 42, 64, 106, 128}
	if fmt.Sprint(ts) != fmt.Sprint(wantTS) {
		t.Errorf("ts %v, want %v", ts, wantTS)
	}
}

func TestTimelineWrapAndBase(t *testing.T) {
	tl := NewTimeline(90000)
	tl.SetBase(0xFFFFFF00)
	for _, c := range []struct {
		ts   uint32
		want int64
	}{{0xFFFFFF00, 0}, {90000 - 0x100, 1000}, {45000 - 0x100, 500}, {180000 - 0x100, 2000}, {0xFFFFFE00, 0}} {
		if got := tl.Millis(c.ts); got != c.want {
			t.Errorf("Millis(%#x) = %d, want %d", c.ts, got, c.want)
		}
	}
	// Many wraps: ~13.25 h per wrap at 90 kHz.
	tl = NewTimeline(90000)
	var ts uint32
	tl.Millis(ts)
	for i := 0; i < 3*(1<<32)/(1<<30); i++ {
		ts += 1 << 30
		tl.Millis(ts)
	}
	if got, want := tl.Millis(ts), int64(3)*(1<<32)*1000/90000; got != want {
		t.Errorf("after 3 wraps %d, want %d", got, want)
	}
}

func TestG711(t *testing.T) {
	d := NewG711(true, NewTimeline(8000), nil)
	out := d.Push(&rtp.Packet{Header: rtp.Header{Timestamp: 8000}, Payload: make([]byte, 160)}, nil)
	out = d.Push(&rtp.Packet{Header: rtp.Header{Timestamp: 8160}, Payload: make([]byte, 160)}, out)
	if len(out) != 2 || out[0].Payload[0] != 0x72 || out[1].Timestamp != 20 {
		t.Fatalf("g711 %d % x", len(out), out[0].Payload[:1])
	}
}

// damage applies a test's packet mangling (on timestamps relative to ts, as
// firstOfTS finds them) and then passes the packets through a Reorderer of
// the given window (0: none), as the pull does.
func damage(pkts []*rtp.Packet, ts uint32, mangle func([]*rtp.Packet) []*rtp.Packet, window int) []*rtp.Packet {
	if mangle != nil {
		for _, p := range pkts {
			p.Timestamp -= ts
		}
		pkts = mangle(pkts)
		for _, p := range pkts {
			p.Timestamp += ts
		}
	}
	if window > 0 {
		ro := NewReorderer(window)
		var in []*rtp.Packet
		for _, p := range pkts {
			in = ro.Push(p, in)
		}
		pkts = ro.flush(in)
	}
	return pkts
}

// The steady state of a camera stream allocates nothing per frame: the
// configuration record is built when a parameter set changes, not for
// every frame, and payloads come from the pool.
func TestVideoSteadyStateAllocs(t *testing.T) {
	pool := remux.NewPool()
	d := NewVideo(H264, NewTimeline(90000), pool)
	pkts := packetizeH264(gop(10), 100, 1000, 3600, 1200)
	var out []*remux.Message
	push := func(p *rtp.Packet) {
		out = d.Push(p, out[:0])
		for _, m := range out {
			m.Release()
		}
	}
	for _, p := range pkts { // warm up: headers, pool, slices
		push(p)
	}
	// The P-frames of the next GOP, one AU after another (each packet
	// also completes the AU before it).
	ts, seq := uint32(1000+10*3600), uint16(100+len(pkts))
	i := 1
	allocs := testing.AllocsPerRun(100, func() {
		body := pkts[len(pkts)-1].Payload
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts + uint32(i)*3600}, Payload: body}
		seq++
		i++
		push(p)
	})
	if allocs > 1 { // the test's own rtp.Packet
		t.Errorf("%.1f allocations per frame, want none but the test's packet", allocs)
	}
}
