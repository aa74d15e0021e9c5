package rtpdepack

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// fuzzPackets splits data into RTP packets: each is a flags byte (bit 0
// the marker, bit 1 a new timestamp, bit 2 a skipped sequence number), a
// 16-bit payload length and the payload.
func fuzzPackets(data []byte) []packet {
	var out []packet
	var seq uint16
	var ts uint32
	for len(data) >= 3 {
		flags := data[0]
		n := min(int(binary.BigEndian.Uint16(data[1:])), len(data)-3)
		payload := data[3 : 3+n]
		data = data[3+n:]
		if flags&2 != 0 {
			ts += 3600
		}
		if flags&4 != 0 {
			seq++
		}
		out = append(out, packet{&rtp.Packet{Header: rtp.Header{Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: ts}, Payload: payload}, int64(ts)})
		seq++
	}
	return out
}

// encodeFuzzPackets is fuzzPackets' inverse, for the seeds.
func encodeFuzzPackets(pkts []packet) []byte {
	var b []byte
	var ts uint32
	for i, p := range pkts {
		flags := byte(0)
		if p.pkt.Marker {
			flags |= 1
		}
		if i > 0 && p.pkt.Timestamp != ts {
			flags |= 2
		}
		ts = p.pkt.Timestamp
		b = append(b, flags)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.pkt.Payload)))
		b = append(b, p.pkt.Payload...)
	}
	return b
}

// FuzzVideoPush feeds arbitrary H.264 / H.265 RTP payloads: nothing
// panics, and what comes out is well-formed FLV video (a sequence header
// or a frame that parses) with a DTS that grows and CTS >= 0. Seeds in
// testdata/fuzz/FuzzVideoPush are the first packets of the real streams.
func FuzzVideoPush(f *testing.F) {
	f.Fuzz(func(t *testing.T, h265 bool, data []byte) {
		codec := H264
		if h265 {
			codec = H265
		}
		d, err := NewVideo(codec, NewEpoch(true), nil)
		if err != nil {
			t.Fatal(err)
		}
		want, off := remux.CodecAVC, 5
		if h265 {
			want, off = remux.CodecHEVC, 8
		}
		last := int64(-1)
		var out []*remux.Message
		for _, p := range fuzzPackets(data) {
			out = d.Push(p.pkt, p.pts, out[:0])
			for _, m := range out {
				if m.Kind != remux.KindVideo || m.Frame.Codec != want {
					t.Fatalf("message % x: not %v video", m.Payload, want)
				}
				if m.IsSequenceHeader() {
					continue
				}
				// The body is length-prefixed NAL units, exactly.
				for b := m.Payload[off:]; len(b) > 0; {
					n := 4 + int(binary.BigEndian.Uint32(b))
					if len(b) < 4 || n <= 4 || n > len(b) {
						t.Fatalf("frame body % x: bad NAL unit lengths", m.Payload[off:])
					}
					b = b[n:]
				}
				if int64(m.Timestamp) <= last || m.Frame.CTS < 0 {
					t.Fatalf("dts %d after %d, cts %d", m.Timestamp, last, m.Frame.CTS)
				}
				last = int64(m.Timestamp)
			}
		}
	})
}

// FuzzAACPush feeds arbitrary mpeg4-generic payloads (the AU headers are
// a bit-field parser in gortsplib): nothing panics, and what comes out is
// the AudioSpecificConfig once, first, then raw AAC frames whose
// timestamps never go back. Seeds in testdata/fuzz/FuzzAACPush are
// packets of the real stream.
func FuzzAACPush(f *testing.F) {
	cfg := []byte{0x11, 0x90} // AAC-LC, 48 kHz, stereo
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := NewAAC(AACConfig{Config: cfg}, 48000, NewEpoch(false), nil)
		if err != nil {
			t.Fatal(err)
		}
		var last uint32
		n := 0
		var out []*remux.Message
		for _, p := range fuzzPackets(data) {
			out = d.Push(p.pkt, p.pts, out[:0])
			for _, m := range out {
				if len(m.Payload) < 2 || m.Payload[0] != 0xAF || m.Payload[1] != 0 && n == 0 || m.Payload[1] != 1 && n > 0 {
					t.Fatalf("message %d: % x", n, m.Payload)
				}
				if m.Timestamp < last {
					t.Fatalf("timestamp %d after %d", m.Timestamp, last)
				}
				last = m.Timestamp
				n++
			}
		}
	})
}
