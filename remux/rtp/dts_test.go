package rtpdepack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Parameter sets written by encoders (GStreamer x264enc / x265enc).
var (
	// x264 bframes=2: VUI max_num_reorder_frames 2 (one more than its
	// I P B B needs).
	spsX264B2 = unhex("674d4015eca0a0fd80b5060606a5000003000100000300328f162d96")
	// x264 bframes=3 b-pyramid: 2.
	spsX264Pyramid = unhex("674d4015ec80a0fd80b5060606a5000003000100000300328f162d96")
	// x264 bframes=0, constrained baseline.
	spsX264Baseline = unhex("6742c015da0507ec05a8303035280000030008000003019478b175")
	// Main profile without VUI: the depth is not stated.
	spsMainNoVUI = unhex("674d4015ec80a8fc80")
	// x265 bframes=2 (b-pyramid): sps_max_num_reorder_pics 2.
	vpsX265   = unhex("40010c01ffff040800000300980800000300003f959009")
	spsX265B2 = unhex("420101040800000300980800000300003f90014101e2294b2b2252617ff80008000b5060606040000003004000000642")
	ppsX265   = unhex("4401c073c189")
	// x265 tune=zerolatency: 0.
	spsX265NoB = unhex("42010101600000030090000003000003003fa00a080f165ba4a4c2fff000100016a0c0c0c080000003008000000c84")
)

func TestReorderFromSPS(t *testing.T) {
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"x264 bframes=2", h264Reorder(spsX264B2), 2},
		{"x264 b-pyramid", h264Reorder(spsX264Pyramid), 2},
		{"x264 baseline", h264Reorder(spsX264Baseline), 0},
		{"test baseline SPS", h264Reorder(testSPS), 0},
		{"main without VUI", h264Reorder(spsMainNoVUI), -1},
		{"truncated", h264Reorder(spsX264B2[:12]), -1},
		{"empty", h264Reorder(nil), -1},
		{"x265 bframes=2", h265Reorder(spsX265B2), 2},
		{"x265 zerolatency", h265Reorder(spsX265NoB), 0},
		{"x265 truncated", h265Reorder(spsX265B2[:20]), -1},
	} {
		if c.got != c.want {
			t.Errorf("%s: reorder %d, want %d", c.name, c.got, c.want)
		}
	}
}

// decodeOrder returns the presentation index of n frames in decode order:
// an I frame, then mini-GOPs whose frames have the given offsets, e.g.
// {3, 1, 2} for I P B B.
func decodeOrder(n int, miniGOP []int) []int {
	o := []int{0}
	for k := 0; len(o) < n; k += len(miniGOP) {
		for _, off := range miniGOP {
			o = append(o, k+off)
		}
	}
	return o[:n]
}

// depth is the true reorder depth of a decode order: the most frames that
// come before a frame in decode order and after it in presentation order.
func depth(order []int) int {
	d := 0
	for i, p := range order {
		n := 0
		for _, q := range order[:i] {
			if q > p {
				n++
			}
		}
		d = max(d, n)
	}
	return d
}

func TestDTSGen(t *testing.T) {
	for _, c := range []struct {
		name    string
		miniGOP []int
		stated  int // from the SPS; -1 not stated
	}{
		{"no B-frames", []int{1}, 0},
		{"no B-frames, depth not stated", []int{1}, -1},
		{"I P B B", []int{3, 1, 2}, 1},
		{"pyramid I P B b b", []int{4, 2, 1, 3}, 2},
		{"x265 I P B b", []int{3, 2, 1}, 2},
		{"stated deeper than used", []int{3, 1, 2}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			order := decodeOrder(40, c.miniGOP)
			d := max(depth(order), c.stated)
			sorted := slices.Sorted(slices.Values(order))
			var g dtsGen
			g.setReorder(c.stated)
			last := int64(-1)
			for i, p := range order {
				dts, pts, late := g.next(int64(p) * 40)
				if late {
					t.Fatalf("frame %d late", i)
				}
				if pts != int64(p)*40+int64(d) {
					t.Errorf("frame %d: pts %d, want %d", i, pts, p*40+d)
				}
				if dts <= last || dts > pts {
					t.Errorf("frame %d: dts %d after %d, pts %d", i, dts, last, pts)
				}
				last = dts
				// Primed: the composition offsets are the encoder's.
				if i >= d {
					if want := int64(p-sorted[i-d]) * 40; pts-dts != want {
						t.Errorf("frame %d (pts %d): cts %d, want %d", i, p, pts-dts, want)
					}
				}
			}
		})
	}
}

func TestDTSGenLearnsAndResets(t *testing.T) {
	var g dtsGen // depth not stated: starts at 0, learns 1
	order := decodeOrder(20, []int{3, 1, 2})
	var lates []int
	last := int64(-1)
	for i, p := range order {
		dts, pts, late := g.next(int64(p) * 40)
		if late {
			lates = append(lates, p)
		}
		if dts < last || dts > pts {
			t.Fatalf("frame %d: dts %d after %d, pts %d", i, dts, last, pts)
		}
		last = dts
		if i >= 4 && pts-dts != int64(p-(i-1))*40 {
			t.Errorf("frame %d: cts %d after learning", i, pts-dts)
		}
	}
	if fmt.Sprint(lates) != "[1 2]" || g.reorder != 1 {
		t.Errorf("late frames %v, depth %d: want the B-frames of the first mini-GOP, 1", lates, g.reorder)
	}
	// A clock step back by an hour: not reordering, nothing learned, and
	// DTS holds until the clock catches up.
	dts, _, late := g.next(19*40 - 3600_000)
	if late || g.reorder != 1 || dts != last {
		t.Errorf("after step back: dts %d late %v depth %d", dts, late, g.reorder)
	}
}

// nonRef is an H.264 slice with nal_ref_idc 0 (a disposable B-frame).
func nonRef(n int, fill byte) []byte {
	b := nal(1, n, fill)
	b[0] = 1
	return b
}

// bframeAUs returns H.264 access units in decode order for a presentation
// order: frame p carries fill byte p; the IDR carries sps and the PPS.
func bframeAUs(order []int, miniGOP []int, sps []byte) []au {
	var aus []au
	refOffsets := map[int]bool{miniGOP[0]: true}
	if len(miniGOP) == 4 { // pyramid: the middle B is a reference
		refOffsets[miniGOP[1]] = true
	}
	for i, p := range order {
		size := 2500 - 200*(i%3)
		switch {
		case i == 0:
			aus = append(aus, au{sps, testPPS, nal(5, size, byte(p))})
		case refOffsets[(p-1)%len(miniGOP)+1]:
			aus = append(aus, au{nal(1, size, byte(p))})
		default:
			aus = append(aus, au{nonRef(300, byte(p))})
		}
	}
	return aus
}

func TestH264BFrames(t *testing.T) {
	const step = 3600 // 40 ms
	tests := []struct {
		name    string
		miniGOP []int
		sps     []byte
		seq     uint16
		ts      uint32
		mangle  func([]*rtp.Packet) []*rtp.Packet
		reorder int
		// frames (by presentation index) not emitted
		wantMissing []int
		// frames (by presentation index) whose offsets differ from the
		// encoder's: after a lost reference frame, DTS only has fewer PTS
		// to go by (still valid: monotonic, <= PTS)
		skipCTS []int
		learned bool
	}{
		{name: "no B-frames", miniGOP: []int{1}, sps: spsX264Baseline},
		{name: "no B-frames, depth not stated", miniGOP: []int{1}, sps: spsMainNoVUI},
		{name: "I P B B", miniGOP: []int{3, 1, 2}, sps: spsX264B2},
		{name: "pyramid", miniGOP: []int{4, 2, 1, 3}, sps: spsX264Pyramid},
		{name: "I P B B, depth learned", miniGOP: []int{3, 1, 2}, sps: spsMainNoVUI, wantMissing: []int{1, 2}, learned: true},
		// The reference B-frame 2 comes out late with CTS 0; b1, b3 refer to
		// it and nothing to them: dropped.
		{name: "pyramid, depth learned", miniGOP: []int{4, 2, 1, 3}, sps: spsMainNoVUI, wantMissing: []int{1, 3}, learned: true},
		{name: "I P B B across sequence and timestamp wrap", miniGOP: []int{3, 1, 2}, sps: spsX264B2, seq: 65530, ts: 0xFFFFFFFF - 5*step},
		{name: "I P B B, a B-frame lost", miniGOP: []int{3, 1, 2}, sps: spsX264B2, wantMissing: []int{7}, skipCTS: []int{8}, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 7*step)
			return append(p[:i:i], p[i+1:]...)
		}},
		{name: "I P B B, a P-frame fragment lost", miniGOP: []int{3, 1, 2}, sps: spsX264B2, wantMissing: []int{9}, skipCTS: []int{7, 8, 10, 12}, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			i := firstOfTS(p, 9*step) + 1
			return append(p[:i:i], p[i+1:]...)
		}},
		{name: "pyramid, reordered packets, with reorder buffer", miniGOP: []int{4, 2, 1, 3}, sps: spsX264Pyramid, reorder: 8, mangle: func(p []*rtp.Packet) []*rtp.Packet {
			for i := 1; i+2 < len(p); i += 4 {
				p[i], p[i+2] = p[i+2], p[i]
			}
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 25
			order := decodeOrder(n, tt.miniGOP)
			d := max(depth(order), h264Reorder(tt.sps))
			sorted := slices.Sorted(slices.Values(order))
			tss := make([]uint32, n)
			for i, p := range order {
				tss[i] = tt.ts + uint32(p)*step
			}
			pkts := packetizeH264At(bframeAUs(order, tt.miniGOP, tt.sps), tt.seq, tss, 1200)
			pkts = damage(pkts, tt.ts, tt.mangle, tt.reorder)
			dp := NewVideo(H264, NewTimeline(90000), remux.NewPool())
			// No latency: the frame an AU's last packet completes comes out
			// of that Push.
			var frames []*remux.Message
			var out []*remux.Message
			for _, p := range pkts {
				out = dp.Push(p, out[:0])
				var got []*remux.Message
				for _, m := range out {
					if !m.IsSequenceHeader() {
						got = append(got, m)
					}
				}
				if len(got) > 1 || len(got) == 1 && !p.Marker {
					t.Fatalf("packet %d (marker %v) completed %d frames", p.SequenceNumber, p.Marker, len(got))
				}
				frames = append(frames, got...)
			}
			var present []int
			shift := int64(0)
			if !tt.learned {
				shift = int64(d)
			}
			last := int64(-1)
			for i, m := range frames {
				p := int(m.Payload[5+6])
				present = append(present, p)
				dts, cts := int64(m.Timestamp), int64(m.Frame.CTS)
				if cts < 0 || dts < last || dts == last && !tt.learned {
					t.Errorf("frame %d (pts %d): dts %d after %d, cts %d", i, p, dts, last, cts)
				}
				last = dts
				k := slices.Index(order, p)
				if pts := dts + cts; pts != int64(p)*40+shift && !(tt.learned && k <= len(tt.miniGOP)) {
					t.Errorf("frame %d: pts %d, want %d", p, pts, int64(p)*40+shift)
				}
				// Once primed the offsets are those of the encoder.
				if k >= d && (!tt.learned || k > 2*len(tt.miniGOP)) && !slices.Contains(tt.skipCTS, p) {
					if want := int64(p-sorted[k-d]) * 40; cts != want {
						t.Errorf("frame %d: cts %d, want %d", p, cts, want)
					}
				}
				if d == 0 && cts != 0 {
					t.Errorf("frame %d: cts %d without B-frames", p, cts)
				}
				m.Release()
			}
			var missing []int
			for _, p := range order {
				if !slices.Contains(present, p) {
					missing = append(missing, p)
				}
			}
			slices.Sort(missing)
			if fmt.Sprint(missing) != fmt.Sprint(tt.wantMissing) {
				t.Errorf("missing frames %v, want %v (dropped %d lost %d)", missing, tt.wantMissing, dp.Dropped, dp.Lost)
			}
		})
	}
}

func TestH265BFrames(t *testing.T) {
	const step = 3600
	h := func(typ byte, n int, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, n)
		b[0], b[1], b[2] = typ<<1, 1, 0x80|fill
		return b
	}
	order := decodeOrder(20, []int{3, 2, 1})
	var pkts []*rtp.Packet
	seq := uint16(100)
	add := func(ts uint32, marker bool, payload []byte) {
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload})
		seq++
	}
	for i, p := range order {
		ts := uint32(p) * step
		if i == 0 {
			ap := []byte{48 << 1, 1}
			for _, n := range [][]byte{vpsX265, spsX265B2, ppsX265} {
				ap = binary.BigEndian.AppendUint16(ap, uint16(len(n)))
				ap = append(ap, n...)
			}
			add(ts, false, ap)
			add(ts, true, h(19, 800, byte(p)))
			continue
		}
		typ := byte(1) // TRAIL_R
		if p%3 == 1 {
			typ = 0 // TRAIL_N
		}
		add(ts, true, h(typ, 200, byte(p)))
	}
	d := NewVideo(H265, NewTimeline(90000), nil)
	r := run(t, d, pkts)
	if r.frames != len(order) {
		t.Fatalf("frames %d, want %d", r.frames, len(order))
	}
	sorted := slices.Sorted(slices.Values(order))
	var nonZero bool
	for i := range r.ts {
		p := int(r.fills[i] &^ 0x80)
		if p != order[i] {
			t.Fatalf("frame %d is %d, want %d", i, p, order[i])
		}
		pts := int64(r.ts[i]) + int64(r.cts[i])
		if r.cts[i] < 0 || i > 0 && r.ts[i] <= r.ts[i-1] || pts != int64(p)*40+2 {
			t.Errorf("frame %d: dts %d cts %d", p, r.ts[i], r.cts[i])
		}
		if i >= 2 && int64(r.cts[i]) != int64(p-sorted[i-2])*40 {
			t.Errorf("frame %d: cts %d, want %d", p, r.cts[i], (p-sorted[i-2])*40)
		}
		nonZero = nonZero || r.cts[i] != 0
	}
	if !nonZero {
		t.Error("all composition offsets 0")
	}
}
