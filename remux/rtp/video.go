package rtpdepack

import (
	"bytes"
	"encoding/binary"

	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// Codec selects the video payload format of a VideoDepacketizer.
type Codec int

// Video payload formats.
const (
	H264 Codec = iota // RFC 6184, packetization-mode 0 or 1
	H265              // RFC 7798, without DONL
)

// maxAUBytes bounds one access unit; a larger one is dropped as broken.
const maxAUBytes = 8 << 20

// VideoDepacketizer assembles H.264 or H.265 RTP packets into access units
// and returns them as FLV video tag bodies (AVC for H.264, Enhanced RTMP
// hvc1 for H.265). Parameter sets from the SDP or in-band become sequence
// headers, emitted before the first frame and whenever they change. Nothing
// is emitted before the first keyframe.
type VideoDepacketizer struct {
	codec Codec
	tl    *Timeline
	pool  *remux.Pool
	seq   seqTracker

	nalus   [][]byte // of the access unit being assembled, in data
	data    []byte   // the bytes of nalus, reused AU after AU
	size    int
	auTS    uint32
	haveAU  bool
	broken  bool   // a packet of the current AU was lost
	fu      []byte // fragmentation unit being reassembled
	inFU    bool
	vps     []byte
	sps     []byte
	pps     []byte
	rec     []byte // configuration record of vps/sps/pps; nil: to build
	sentHdr []byte // the configuration record last emitted
	keySeen bool
	order   dtsGen // decode timestamps and composition offsets (B-frames)

	// Stats
	Frames, Dropped, Lost uint64
}

// NewVideo returns a depacketizer for codec on timeline tl. Parameter sets
// from the SDP (sprop-parameter-sets / sprop-vps,-sps,-pps) may be given as
// params (raw NAL units without start codes); pool may be nil.
func NewVideo(codec Codec, tl *Timeline, pool *remux.Pool, params ...[]byte) *VideoDepacketizer {
	d := &VideoDepacketizer{codec: codec, tl: tl, pool: pool}
	for _, p := range params {
		d.param(p)
	}
	return d
}

func (d *VideoDepacketizer) nalType(n []byte) int {
	if len(n) == 0 {
		return -1
	}
	if d.codec == H265 {
		return int(n[0]>>1) & 0x3F
	}
	return int(n[0] & 0x1F)
}

// param records n when it is a parameter set; it reports whether it was.
func (d *VideoDepacketizer) param(n []byte) bool {
	t := d.nalType(n)
	set := func(p *[]byte) bool {
		if !bytes.Equal(*p, n) {
			*p = append([]byte(nil), n...)
			d.rec = nil // rebuilt by the next frame
			if p == &d.sps {
				// The reorder depth is in the SPS: read it before the
				// frames that follow it are timed.
				if d.codec == H265 {
					d.order.setReorder(h265Reorder(n))
				} else {
					d.order.setReorder(h264Reorder(n))
				}
			}
		}
		return true
	}
	if d.codec == H265 {
		switch t {
		case 32:
			return set(&d.vps)
		case 33:
			return set(&d.sps)
		case 34:
			return set(&d.pps)
		}
		return false
	}
	switch t {
	case 7:
		return set(&d.sps)
	case 8:
		return set(&d.pps)
	}
	return false
}

// disposable reports whether no other frame refers to the access unit
// being assembled, so that dropping it harms nothing else: H.264 slices
// with nal_ref_idc 0. (H.265 sub-layer non-reference pictures may still be
// referred to by higher temporal layers; they are not dropped.)
func (d *VideoDepacketizer) disposable() bool {
	if d.codec != H264 {
		return false
	}
	vcl := false
	for _, n := range d.nalus {
		if t := d.nalType(n); t >= 1 && t <= 5 {
			if n[0]&0x60 != 0 {
				return false
			}
			vcl = true
		}
	}
	return vcl
}

func (d *VideoDepacketizer) isKey(t int) bool {
	if d.codec == H265 {
		return t >= 16 && t <= 21 // BLA, IDR, CRA
	}
	return t == 5
}

// Push consumes one RTP packet and appends the messages it completes to out.
func (d *VideoDepacketizer) Push(p *rtp.Packet, out []*remux.Message) []*remux.Message {
	inOrder, stale := d.seq.check(p.SequenceNumber)
	if stale {
		return out
	}
	if !inOrder {
		// Packets were lost: the access unit in progress is broken.
		d.Lost++
		d.broken = true
		d.inFU = false
		d.fu = d.fu[:0]
	}
	if !inOrder && d.haveAU && p.Timestamp != d.auTS || !inOrder && !d.haveAU {
		// The lost packets may also have begun this AU; they did not
		// when this packet is the start of a picture.
		if d.haveAU {
			out = d.finish(out)
		}
		d.broken = !d.startsAU(p.Payload)
	} else if d.haveAU && p.Timestamp != d.auTS {
		// A new timestamp without the marker of the previous AU: flush it.
		out = d.finish(out)
	}
	if !d.haveAU {
		d.haveAU, d.auTS = true, p.Timestamp
	}
	d.payload(p.Payload)
	if p.Marker {
		out = d.finish(out)
	}
	return out
}

// startsAU reports whether payload begins an access unit: its first NAL
// unit is a non-VCL unit or the first slice of a picture.
func (d *VideoDepacketizer) startsAU(b []byte) bool {
	if d.codec == H264 {
		if len(b) < 2 {
			return false
		}
		t := b[0] & 0x1F
		first := b[1:]
		switch t {
		case 24: // STAP-A: the first unit
			if len(b) < 4 {
				return false
			}
			first = b[4:]
			t = b[3] & 0x1F
		case 28: // FU-A: only its start
			if b[1]&0x80 == 0 {
				return false
			}
			t = b[1] & 0x1F
			first = b[2:]
		}
		if t >= 1 && t <= 5 {
			return len(first) > 0 && first[0]&0x80 != 0 // first_mb_in_slice == 0
		}
		return t != 0 && t < 24
	}
	if len(b) < 3 {
		return false
	}
	t := (b[0] >> 1) & 0x3F
	first := b[2:]
	switch t {
	case 48: // AP
		if len(b) < 6 {
			return false
		}
		t = (b[4] >> 1) & 0x3F
		first = b[6:]
	case 49: // FU
		if b[2]&0x80 == 0 {
			return false
		}
		t = b[2] & 0x3F
		first = b[3:]
	}
	if t < 32 {
		return len(first) > 0 && first[0]&0x80 != 0 // first_slice_segment_in_pic_flag
	}
	return t < 48
}

func (d *VideoDepacketizer) add(n []byte) {
	if len(n) == 0 {
		return
	}
	if d.param(n) {
		return
	}
	t := d.nalType(n)
	if d.codec == H264 && t == 9 || d.codec == H265 && t == 35 { // access unit delimiter
		return
	}
	d.size += 4 + len(n)
	if d.size > maxAUBytes {
		d.broken = true
		return
	}
	// Copied (the packet is not ours to keep) into one buffer reused AU
	// after AU. When it grows, the NAL units already in it stay valid in
	// the old array; nothing writes below the end during an AU.
	start := len(d.data)
	d.data = append(d.data, n...)
	d.nalus = append(d.nalus, d.data[start:len(d.data):len(d.data)])
}

func (d *VideoDepacketizer) payload(b []byte) {
	if len(b) < 1 || d.codec == H265 && len(b) < 2 {
		d.broken = true
		return
	}
	if d.codec == H264 {
		switch t := int(b[0] & 0x1F); {
		case t >= 1 && t <= 23:
			d.add(b)
		case t == 24: // STAP-A
			d.aggregate(b[1:])
		case t == 28: // FU-A
			if len(b) < 3 {
				d.broken = true
				return
			}
			d.fragment(b[1], []byte{b[0]&0xE0 | b[1]&0x1F}, b[2:])
		default: // STAP-B, MTAP, FU-B: not in packetization-mode 1
			d.broken = true
		}
		return
	}
	switch t := int(b[0]>>1) & 0x3F; {
	case t < 48:
		d.add(b)
	case t == 48: // AP
		d.aggregate(b[2:])
	case t == 49: // FU
		if len(b) < 4 {
			d.broken = true
			return
		}
		ft := b[2] & 0x3F
		d.fragment(b[2], []byte{b[0]&0x81 | ft<<1, b[1]}, b[3:])
	default: // PACI and others
	}
}

// aggregate splits an STAP-A / AP payload of 16-bit length-prefixed units.
func (d *VideoDepacketizer) aggregate(b []byte) {
	for len(b) > 0 {
		if len(b) < 2 {
			d.broken = true
			return
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) || n == 0 {
			d.broken = true
			return
		}
		d.add(b[:n])
		b = b[n:]
	}
}

// fragment handles one FU-A / FU packet: fuHdr has the S (0x80) and E
// (0x40) bits, hdr is the reconstructed NAL header.
func (d *VideoDepacketizer) fragment(fuHdr byte, hdr, data []byte) {
	start, end := fuHdr&0x80 != 0, fuHdr&0x40 != 0
	if start {
		if d.inFU { // previous fragment never ended
			d.broken = true
		}
		d.fu = append(append(d.fu[:0], hdr...), data...)
		d.inFU = true
	} else {
		if !d.inFU { // its start was lost
			d.broken = true
			return
		}
		d.fu = append(d.fu, data...)
	}
	if len(d.fu) > maxAUBytes {
		d.broken, d.inFU = true, false
		d.fu = d.fu[:0]
		return
	}
	if end {
		d.add(d.fu)
		d.inFU = false
		d.fu = d.fu[:0]
	}
}

// finish emits the access unit in progress unless it is broken or empty.
func (d *VideoDepacketizer) finish(out []*remux.Message) []*remux.Message {
	defer func() {
		d.nalus = d.nalus[:0]
		d.data = d.data[:0]
		d.size = 0
		d.haveAU = false
		d.broken = false
		d.inFU = false
		d.fu = d.fu[:0]
	}()
	if d.inFU {
		d.broken = true
	}
	if d.broken {
		d.Dropped++
		return out
	}
	if len(d.nalus) == 0 {
		// Parameter sets alone: emit the header only when a key frame
		// follows (done below with that frame).
		return out
	}
	key := false
	for _, n := range d.nalus {
		if d.isKey(d.nalType(n)) {
			key = true
			break
		}
	}
	if !d.keySeen && !key {
		d.Dropped++
		return out
	}
	rec := d.record()
	if rec == nil { // no parameter sets yet
		d.Dropped++
		return out
	}
	// RTP timestamps are presentation times; FLV wants decode times that
	// only grow plus a composition offset.
	dts, pts, late := d.order.next(d.tl.Millis(d.auTS))
	if late && !key && d.disposable() {
		// A deeper reordering than known, seen too late to time this
		// frame: dropping a frame nothing refers to beats showing it out
		// of order.
		d.Dropped++
		return out
	}
	d.keySeen = true
	if !bytes.Equal(rec, d.sentHdr) {
		d.sentHdr = rec
		out = append(out, d.headerMsg(uint32(dts), rec))
	}
	out = append(out, d.frameMsg(uint32(dts), int32(pts-dts), key))
	d.Frames++
	return out
}

// record returns the configuration record of the current parameter sets,
// nil until there are all of them. It is built once per change of a
// parameter set, not per frame (cameras repeat them in every keyframe).
func (d *VideoDepacketizer) record() []byte {
	if d.rec != nil {
		return d.rec
	}
	if d.codec == H265 {
		if d.vps != nil && d.sps != nil && d.pps != nil {
			d.rec = HEVCRecord(d.vps, d.sps, d.pps)
		}
	} else if d.sps != nil && d.pps != nil {
		d.rec = AVCRecord(d.sps, d.pps)
	}
	return d.rec
}

// tag returns the FLV video tag header for a frame or sequence header; cts
// is the composition time offset of a frame in ms.
func (d *VideoDepacketizer) tag(header, key bool, cts int32) []byte {
	ft := byte(2)
	if key || header {
		ft = 1
	}
	if d.codec == H265 {
		pt := byte(1)
		if header {
			pt = 0
		}
		h := []byte{0x80 | ft<<4 | pt, 'h', 'v', 'c', '1'}
		if !header {
			h = append(h, byte(cts>>16), byte(cts>>8), byte(cts)) // SI24
		}
		return h
	}
	if header {
		return []byte{ft<<4 | 7, 0, 0, 0, 0}
	}
	return []byte{ft<<4 | 7, 1, byte(cts >> 16), byte(cts >> 8), byte(cts)}
}

func newMsg(pool *remux.Pool, kind remux.Kind, ts uint32, n int) *remux.Message {
	if pool == nil {
		return remux.NewMessage(kind, ts, make([]byte, n))
	}
	m := pool.Get(n)
	m.Kind, m.Timestamp = kind, ts
	return m
}

func (d *VideoDepacketizer) headerMsg(ts uint32, rec []byte) *remux.Message {
	h := d.tag(true, true, 0)
	m := newMsg(d.pool, remux.KindVideo, ts, len(h)+len(rec))
	copy(m.Payload[copy(m.Payload, h):], rec)
	m.Parse()
	return m
}

func (d *VideoDepacketizer) frameMsg(ts uint32, cts int32, key bool) *remux.Message {
	h := d.tag(false, key, cts)
	m := newMsg(d.pool, remux.KindVideo, ts, len(h)+d.size)
	b := m.Payload[copy(m.Payload, h):]
	for _, n := range d.nalus {
		binary.BigEndian.PutUint32(b, uint32(len(n)))
		copy(b[4:], n)
		b = b[4+len(n):]
	}
	m.Parse()
	return m
}

// AVCRecord builds an AVCDecoderConfigurationRecord (4-byte NALU lengths);
// nil without a usable SPS and PPS.
func AVCRecord(sps, pps []byte) []byte {
	var scratch []byte
	b, ok := remux.AppendAVCRecord(nil, [][]byte{sps}, [][]byte{pps}, 4, &scratch)
	if !ok {
		return nil
	}
	return b
}

// HEVCRecord builds an HEVCDecoderConfigurationRecord (4-byte NALU
// lengths) with the profile, tier, level, chroma format and bit depths of
// the SPS; nil without a usable VPS, SPS and PPS.
func HEVCRecord(vps, sps, pps []byte) []byte {
	var scratch []byte
	b, ok := remux.AppendHEVCRecord(nil, [][]byte{vps}, [][]byte{sps}, [][]byte{pps}, 4, &scratch)
	if !ok {
		return nil
	}
	return b
}
