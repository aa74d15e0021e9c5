package rtpdepack

import (
	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
)

// AACConfig is the fmtp of an mpeg4-generic (RFC 3640) AAC stream.
type AACConfig struct {
	Config           []byte // AudioSpecificConfig (fmtp config=, hex-decoded)
	SizeLength       int    // bits of AU-size (13 for AAC-hbr)
	IndexLength      int    // bits of AU-Index (3)
	IndexDeltaLength int    // bits of AU-Index-delta (3)
}

// AACDepacketizer turns mpeg4-generic RTP packets into FLV AAC tags
// (0xAF 0x00 AudioSpecificConfig first, then 0xAF 0x01 raw frames).
type AACDepacketizer struct {
	cfg     AACConfig
	tl      *Timeline
	pool    *remux.Pool
	seq     seqTracker
	sent    bool
	frag    []byte // fragmented AU being reassembled
	fragLen int
	fragTS  uint32
	inFrag  bool
	lastMS  int64
	samples uint32 // per AU, in clock units

	Frames, Dropped, Lost uint64
}

// NewAAC returns an AAC depacketizer; cfg.Config is required.
func NewAAC(cfg AACConfig, tl *Timeline, pool *remux.Pool) *AACDepacketizer {
	if cfg.SizeLength == 0 {
		cfg.SizeLength = 13
	}
	if cfg.IndexLength == 0 && cfg.IndexDeltaLength == 0 && cfg.SizeLength == 13 {
		cfg.IndexLength, cfg.IndexDeltaLength = 3, 3
	}
	return &AACDepacketizer{cfg: cfg, tl: tl, pool: pool, lastMS: -1, samples: 1024}
}

// bitReader reads big-endian bit fields.
type bitReader struct {
	b   []byte
	pos int // bits
}

func (r *bitReader) read(n int) (uint32, bool) {
	var v uint32
	if n > 32 || r.pos+n > len(r.b)*8 {
		return 0, false
	}
	for range n {
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8))&1
		r.pos++
	}
	return v, true
}

// Push consumes one RTP packet and appends the frames it completes to out.
func (d *AACDepacketizer) Push(p *rtp.Packet, out []*remux.Message) []*remux.Message {
	inOrder, stale := d.seq.check(p.SequenceNumber)
	if stale {
		return out
	}
	if !inOrder {
		d.Lost++
		if d.inFrag {
			d.Dropped++
			d.inFrag = false
		}
	}
	b := p.Payload
	if len(b) < 2 {
		return out
	}
	hdrBits := int(b[0])<<8 | int(b[1])
	hdrBytes := (hdrBits + 7) / 8
	if 2+hdrBytes > len(b) {
		d.Dropped++
		return out
	}
	r := bitReader{b: b[2 : 2+hdrBytes]}
	data := b[2+hdrBytes:]
	var sizes []int
	for i := 0; r.pos < hdrBits; i++ {
		size, ok := r.read(d.cfg.SizeLength)
		idxLen := d.cfg.IndexDeltaLength
		if i == 0 {
			idxLen = d.cfg.IndexLength
		}
		if _, ok2 := r.read(idxLen); !ok || !ok2 {
			d.Dropped++
			return out
		}
		sizes = append(sizes, int(size))
		if len(sizes) > 512 {
			d.Dropped++
			return out
		}
	}
	if d.inFrag {
		// Continuation of a fragmented AU: one header giving the whole size.
		if len(sizes) != 1 || sizes[0] != d.fragLen || p.Timestamp != d.fragTS {
			d.Dropped++
			d.inFrag = false
		} else {
			d.frag = append(d.frag, data...)
			if len(d.frag) >= d.fragLen || p.Marker {
				d.inFrag = false
				if len(d.frag) != d.fragLen {
					d.Dropped++
					return out
				}
				return d.emit(out, p.Timestamp, d.frag)
			}
			return out
		}
	}
	if len(sizes) == 1 && sizes[0] > len(data) {
		d.inFrag = true
		d.fragLen, d.fragTS = sizes[0], p.Timestamp
		d.frag = append(d.frag[:0], data...)
		return out
	}
	for i, n := range sizes {
		if n > len(data) {
			d.Dropped++
			return out
		}
		out = d.emit(out, p.Timestamp+uint32(i)*d.samples, data[:n])
		data = data[n:]
	}
	return out
}

func (d *AACDepacketizer) emit(out []*remux.Message, ts uint32, au []byte) []*remux.Message {
	if len(d.cfg.Config) == 0 || len(au) == 0 {
		d.Dropped++
		return out
	}
	ms := d.tl.Millis(ts)
	if ms < d.lastMS {
		ms = d.lastMS
	}
	d.lastMS = ms
	if !d.sent {
		d.sent = true
		m := newMsg(d.pool, remux.KindAudio, uint32(ms), 2+len(d.cfg.Config))
		m.Payload[0], m.Payload[1] = 0xAF, 0
		copy(m.Payload[2:], d.cfg.Config)
		m.Parse()
		out = append(out, m)
	}
	m := newMsg(d.pool, remux.KindAudio, uint32(ms), 2+len(au))
	m.Payload[0], m.Payload[1] = 0xAF, 1
	copy(m.Payload[2:], au)
	m.Parse()
	d.Frames++
	return append(out, m)
}

// G711Depacketizer passes G.711 (PCMA payload type 8, PCMU 0) at 8 kHz
// through as FLV sound formats 7 (A-law) and 8 (mu-law), mono.
type G711Depacketizer struct {
	tl     *Timeline
	pool   *remux.Pool
	head   byte
	lastMS int64

	Frames uint64
}

// NewG711 returns a G.711 depacketizer; alaw selects PCMA, else PCMU.
func NewG711(alaw bool, tl *Timeline, pool *remux.Pool) *G711Depacketizer {
	head := byte(8<<4 | 1<<1) // mu-law, 16-bit flag as ffmpeg writes, mono
	if alaw {
		head = 7<<4 | 1<<1
	}
	return &G711Depacketizer{tl: tl, pool: pool, head: head, lastMS: -1}
}

// Push consumes one RTP packet.
func (d *G711Depacketizer) Push(p *rtp.Packet, out []*remux.Message) []*remux.Message {
	if len(p.Payload) == 0 {
		return out
	}
	ms := d.tl.Millis(p.Timestamp)
	if ms < d.lastMS {
		ms = d.lastMS
	}
	d.lastMS = ms
	m := newMsg(d.pool, remux.KindAudio, uint32(ms), 1+len(p.Payload))
	m.Payload[0] = d.head
	copy(m.Payload[1:], p.Payload)
	m.Parse()
	d.Frames++
	return append(out, m)
}

// Depacketizer is what every depacketizer of this package implements.
type Depacketizer interface {
	Push(p *rtp.Packet, out []*remux.Message) []*remux.Message
}

var (
	_ Depacketizer = (*VideoDepacketizer)(nil)
	_ Depacketizer = (*AACDepacketizer)(nil)
	_ Depacketizer = (*G711Depacketizer)(nil)
)
