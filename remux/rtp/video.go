package rtpdepack

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// Codec selects the video payload format of a VideoDepacketizer.
type Codec int

// Video payload formats.
const (
	H264 Codec = iota // RFC 6184, packetization-mode 0 or 1
	H265              // RFC 7798
)

// videoClock is the RTP clock rate of H.264 and H.265 (RFC 6184, 7798).
const videoClock = 90000

// VideoDepacketizer assembles H.264 or H.265 RTP packets into access units
// (gortsplib's rtph264 / rtph265 decoders) and returns them as FLV video
// tag bodies (AVC for H.264, Enhanced RTMP hvc1 for H.265). Parameter sets
// from the SDP or in-band become sequence headers, emitted before the first
// frame and whenever they change. Nothing is emitted before the first
// keyframe. Decode times come from mediacommon's DTS extractor, so B-frames
// keep a DTS that only grows and their true composition offsets.
type VideoDepacketizer struct {
	codec Codec
	h264  *rtph264.Decoder
	h265  *rtph265.Decoder
	dts   dtsExtractor
	epoch *Epoch
	pool  *remux.Pool
	seq   seqTracker

	// The access unit the decoder holds: it returns one only when the
	// next timestamp begins (no marker) or on a marker.
	pending    bool
	pendingTS  uint32
	pendingPTS int64
	broken     bool // the access unit in progress lost a packet

	nalus   [][]byte // of the access unit being converted, reused
	withPS  [][]byte // nalus with the parameter sets in front, reused
	size    int
	vps     []byte
	sps     []byte
	pps     []byte
	rec     []byte // configuration record of vps/sps/pps; nil: to build
	sentHdr []byte // the configuration record last emitted
	keySeen bool
	lastDTS int64 // ms, -1 before the first frame

	// Stats
	Frames, Dropped, Lost uint64
}

// dtsExtractor is mediacommon's h264 or h265 DTSExtractor.
type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

// NewVideo returns a depacketizer for codec on the session's epoch.
// Parameter sets from the SDP (sprop-parameter-sets / sprop-vps,-sps,-pps)
// may be given as params (raw NAL units without start codes); pool may be
// nil.
func NewVideo(codec Codec, epoch *Epoch, pool *remux.Pool, params ...[]byte) (*VideoDepacketizer, error) {
	d := &VideoDepacketizer{codec: codec, epoch: epoch, pool: pool, lastDTS: -1}
	switch codec {
	case H264:
		d.h264 = &rtph264.Decoder{PacketizationMode: 1}
		if err := d.h264.Init(); err != nil {
			return nil, err
		}
	case H265:
		d.h265 = &rtph265.Decoder{}
		if err := d.h265.Init(); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("rtp: unknown video codec")
	}
	d.resetDTS()
	for _, p := range params {
		d.param(p)
	}
	return d, nil
}

// resetDTS starts a new DTS extractor, which waits for a keyframe.
func (d *VideoDepacketizer) resetDTS() {
	if d.codec == H265 {
		x := &h265.DTSExtractor{}
		x.Initialize()
		d.dts = x
		return
	}
	x := &h264.DTSExtractor{}
	x.Initialize()
	d.dts = x
}

func (d *VideoDepacketizer) nalType(n []byte) int {
	if d.codec == H265 {
		return int(n[0]>>1) & 0x3F
	}
	return int(n[0] & 0x1F)
}

// param records n when it is a parameter set; it reports whether it was.
func (d *VideoDepacketizer) param(n []byte) bool {
	if len(n) == 0 {
		return false
	}
	var p *[]byte
	switch t := d.nalType(n); {
	case d.codec == H265 && t == int(h265.NALUType_VPS_NUT):
		p = &d.vps
	case d.codec == H265 && t == int(h265.NALUType_SPS_NUT):
		p = &d.sps
	case d.codec == H265 && t == int(h265.NALUType_PPS_NUT):
		p = &d.pps
	case d.codec == H264 && t == int(h264.NALUTypeSPS):
		p = &d.sps
	case d.codec == H264 && t == int(h264.NALUTypePPS):
		p = &d.pps
	default:
		return false
	}
	if !bytes.Equal(*p, n) {
		// Copied: the access unit is in the decoder's buffers. The DTS
		// extractor is given these copies too, so that it sees a new SPS
		// only when there is one.
		*p = append([]byte(nil), n...)
		d.rec = nil // rebuilt by the next frame
	}
	return true
}

func (d *VideoDepacketizer) isKey(t int) bool {
	if d.codec == H265 {
		return t >= int(h265.NALUType_BLA_W_LP) && t <= int(h265.NALUType_CRA_NUT)
	}
	return t == int(h264.NALUTypeIDR)
}

func (d *VideoDepacketizer) isAUD(t int) bool {
	if d.codec == H265 {
		return t == int(h265.NALUType_AUD_NUT)
	}
	return t == int(h264.NALUTypeAccessUnitDelimiter)
}

// Push consumes one RTP packet with presentation time pts (90 kHz units on
// the session's timeline) and appends the messages it completes to out.
func (d *VideoDepacketizer) Push(p *rtp.Packet, pts int64, out []*remux.Message) []*remux.Message {
	inOrder, stale := d.seq.check(p.SequenceNumber)
	if stale {
		return out
	}
	// split: this packet begins the next access unit while the decoder
	// holds one of the previous timestamp, which it returns now.
	split := d.pending && p.Timestamp != d.pendingTS
	newBroken := false
	if !inOrder {
		d.Lost++
		if d.pending {
			d.broken = true // the access unit in progress lost a packet
		}
		if !d.pending || split {
			// The lost packets may also have begun this access unit;
			// they did not when this packet is the start of a picture.
			newBroken = !d.startsAU(p.Payload)
		}
	}
	if !d.pending {
		d.broken = newBroken
	}
	var au [][]byte
	var err error
	if d.h265 != nil {
		au, err = d.h265.Decode(p)
	} else {
		au, err = d.h264.Decode(p)
	}
	auPTS, auBroken := pts, d.broken
	if split {
		auPTS = d.pendingPTS
	}
	switch {
	case err == nil:
		if split {
			// The decoder holds this packet as the next access unit.
			d.pendingTS, d.pendingPTS, d.broken = p.Timestamp, pts, newBroken
		} else {
			d.pending, d.broken = false, false
		}
	case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph265.ErrMorePacketsNeeded):
		if split {
			// What was held is gone (an unfinished fragment).
			d.Dropped++
			d.broken = newBroken
		}
		d.pending, d.pendingTS, d.pendingPTS = true, p.Timestamp, pts
		return out
	case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious), errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
		d.pending, d.broken = false, false
		return out // joined in the middle of a frame
	default:
		// A malformed or incomplete packet: its access unit is lost.
		d.pending, d.broken = false, false
		d.Dropped++
		return out
	}
	if auBroken {
		d.Dropped++
		return out
	}
	return d.convert(au, auPTS, out)
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
		case 24: // STAP-A: its first unit
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

// convert turns one access unit with presentation time pts (90 kHz) into
// messages appended to out.
func (d *VideoDepacketizer) convert(au [][]byte, pts int64, out []*remux.Message) []*remux.Message {
	d.nalus, d.size = d.nalus[:0], 0
	key := false
	for _, n := range au {
		if len(n) == 0 || d.param(n) {
			continue
		}
		t := d.nalType(n)
		if d.isAUD(t) {
			continue
		}
		key = key || d.isKey(t)
		d.nalus = append(d.nalus, n)
		d.size += 4 + len(n)
	}
	if len(d.nalus) == 0 {
		// Parameter sets alone: the header goes out with the next frame.
		return out
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
	// The extractor reads the reorder depth and picture order counts from
	// the SPS: give it our copies with every keyframe, whether or not the
	// camera repeats them in-band.
	ext := d.nalus
	if key {
		d.withPS = d.withPS[:0]
		if d.codec == H265 {
			d.withPS = append(d.withPS, d.vps)
		}
		d.withPS = append(append(d.withPS, d.sps, d.pps), d.nalus...)
		ext = d.withPS
	}
	dts, err := d.dts.Extract(ext, pts)
	if err != nil {
		// A stream the extractor cannot follow (a lost reference, a
		// camera clock step): start over at the next keyframe.
		d.Dropped++
		d.keySeen = false
		d.resetDTS()
		return out
	}
	dtsMS := millis(dts, videoClock)
	d.epoch.fix(dtsMS)
	dtsMS += d.epoch.offset
	ptsMS := millis(pts, videoClock) + d.epoch.offset
	// FLV wants decode times that grow, also after an extractor restart.
	dtsMS = max(dtsMS, d.lastDTS+1, 0)
	ptsMS = max(ptsMS, dtsMS)
	d.lastDTS = dtsMS
	d.keySeen = true
	if !bytes.Equal(rec, d.sentHdr) {
		d.sentHdr = rec
		out = append(out, d.headerMsg(uint32(dtsMS), rec))
	}
	out = append(out, d.frameMsg(uint32(dtsMS), int32(ptsMS-dtsMS), key))
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
	var scratch []byte
	if d.codec == H265 {
		if d.vps != nil && d.sps != nil && d.pps != nil {
			if b, ok := remux.AppendHEVCRecord(nil, [][]byte{d.vps}, [][]byte{d.sps}, [][]byte{d.pps}, 4, &scratch); ok {
				d.rec = b
			}
		}
	} else if d.sps != nil && d.pps != nil {
		if b, ok := remux.AppendAVCRecord(nil, [][]byte{d.sps}, [][]byte{d.pps}, 4, &scratch); ok {
			d.rec = b
		}
	}
	return d.rec
}

// tagHeader writes the FLV video tag header for a frame or sequence header
// into b and returns its length; cts is the composition time offset of a
// frame in ms.
func (d *VideoDepacketizer) tagHeader(b []byte, header, key bool, cts int32) int {
	ft := byte(2)
	if key || header {
		ft = 1
	}
	if d.codec == H265 {
		pt := byte(1)
		if header {
			pt = 0
		}
		b[0] = 0x80 | ft<<4 | pt
		copy(b[1:], "hvc1")
		if header {
			return 5
		}
		b[5], b[6], b[7] = byte(cts>>16), byte(cts>>8), byte(cts) // SI24
		return 8
	}
	b[0] = ft<<4 | 7
	if header {
		b[1], b[2], b[3], b[4] = 0, 0, 0, 0
		return 5
	}
	b[1], b[2], b[3], b[4] = 1, byte(cts>>16), byte(cts>>8), byte(cts)
	return 5
}

// maxTagHeader is the longest video tag header tagHeader writes.
const maxTagHeader = 8

func newMsg(pool *remux.Pool, kind remux.Kind, ts uint32, n int) *remux.Message {
	if pool == nil {
		return remux.NewMessage(kind, ts, make([]byte, n))
	}
	m := pool.Get(n)
	m.Kind, m.Timestamp = kind, ts
	return m
}

func (d *VideoDepacketizer) headerMsg(ts uint32, rec []byte) *remux.Message {
	var h [maxTagHeader]byte
	n := d.tagHeader(h[:], true, true, 0)
	m := newMsg(d.pool, remux.KindVideo, ts, n+len(rec))
	copy(m.Payload[copy(m.Payload, h[:n]):], rec)
	m.Parse()
	return m
}

func (d *VideoDepacketizer) frameMsg(ts uint32, cts int32, key bool) *remux.Message {
	var h [maxTagHeader]byte
	n := d.tagHeader(h[:], false, key, cts)
	m := newMsg(d.pool, remux.KindVideo, ts, n+d.size)
	b := m.Payload[copy(m.Payload, h[:n]):]
	for _, nal := range d.nalus {
		binary.BigEndian.PutUint32(b, uint32(len(nal)))
		copy(b[4:], nal)
		b = b[4+len(nal):]
	}
	m.Parse()
	return m
}
