package rtpdepack

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
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

// AACDepacketizer turns mpeg4-generic RTP packets (decoded by gortsplib's
// rtpmpeg4audio) into FLV AAC tags: 0xAF 0x00 AudioSpecificConfig first,
// then 0xAF 0x01 raw frames.
type AACDepacketizer struct {
	cfg    AACConfig
	dec    *rtpmpeg4audio.Decoder
	rate   int64 // RTP clock rate: the sample rate
	epoch  *Epoch
	pool   *remux.Pool
	seq    seqTracker
	sent   bool
	lastMS int64

	Frames, Dropped, Lost uint64
}

// samplesPerAU is the length of an AAC frame (AAC-LC; the RTP timestamps
// of the frames of one packet are this far apart).
const samplesPerAU = 1024

// NewAAC returns an AAC depacketizer for a clock (sample) rate in Hz on the
// session's epoch; cfg.Config is required.
func NewAAC(cfg AACConfig, clockRate int, epoch *Epoch, pool *remux.Pool) (*AACDepacketizer, error) {
	if len(cfg.Config) == 0 {
		return nil, errors.New("rtp: aac without an AudioSpecificConfig")
	}
	if clockRate <= 0 {
		return nil, fmt.Errorf("rtp: aac clock rate %d", clockRate)
	}
	if cfg.SizeLength == 0 {
		cfg.SizeLength = 13
	}
	if cfg.IndexLength == 0 && cfg.IndexDeltaLength == 0 && cfg.SizeLength == 13 {
		cfg.IndexLength, cfg.IndexDeltaLength = 3, 3
	}
	dec := &rtpmpeg4audio.Decoder{SizeLength: cfg.SizeLength, IndexLength: cfg.IndexLength, IndexDeltaLength: cfg.IndexDeltaLength}
	if err := dec.Init(); err != nil {
		return nil, err
	}
	return &AACDepacketizer{cfg: cfg, dec: dec, rate: int64(clockRate), epoch: epoch, pool: pool, lastMS: -1}, nil
}

// Push consumes one RTP packet with presentation time pts (clock units on
// the session's timeline) and appends the frames it completes to out.
func (d *AACDepacketizer) Push(p *rtp.Packet, pts int64, out []*remux.Message) []*remux.Message {
	inOrder, stale := d.seq.check(p.SequenceNumber)
	if stale {
		return out
	}
	if !inOrder {
		d.Lost++
	}
	aus, err := d.dec.Decode(p)
	if err != nil {
		if !errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
			d.Dropped++
		}
		return out
	}
	if !d.epoch.audioReady() {
		return out // waiting for the first video frame
	}
	for i, au := range aus {
		out = d.emit(out, pts+int64(i)*samplesPerAU, au)
	}
	return out
}

func (d *AACDepacketizer) emit(out []*remux.Message, pts int64, au []byte) []*remux.Message {
	if len(au) == 0 {
		d.Dropped++
		return out
	}
	raw := millis(pts, d.rate) + d.epoch.offset
	if raw < d.lastMS {
		// A frame of time already sent (the camera's audio stepped back):
		// dropped, not stacked at the last time (issue 15).
		d.Dropped++
		return out
	}
	ms := max(raw, 0)
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
// through as FLV sound formats 7 (A-law) and 8 (mu-law), mono: its RTP
// payload is the samples, there is nothing to depacketize.
type G711Depacketizer struct {
	epoch  *Epoch
	pool   *remux.Pool
	head   byte
	lastMS int64

	Frames, Dropped uint64
}

// g711Clock is the RTP clock rate of G.711 (RFC 3551).
const g711Clock = 8000

// NewG711 returns a G.711 depacketizer; alaw selects PCMA, else PCMU.
func NewG711(alaw bool, epoch *Epoch, pool *remux.Pool) *G711Depacketizer {
	head := byte(8<<4 | 1<<1) // mu-law, 16-bit flag as ffmpeg writes, mono
	if alaw {
		head = 7<<4 | 1<<1
	}
	return &G711Depacketizer{epoch: epoch, pool: pool, head: head, lastMS: -1}
}

// Push consumes one RTP packet with presentation time pts (8 kHz units on
// the session's timeline).
func (d *G711Depacketizer) Push(p *rtp.Packet, pts int64, out []*remux.Message) []*remux.Message {
	if len(p.Payload) == 0 || !d.epoch.audioReady() {
		return out
	}
	raw := millis(pts, g711Clock) + d.epoch.offset
	if raw < d.lastMS {
		d.Dropped++ // samples of time already sent, as AAC's
		return out
	}
	ms := max(raw, 0)
	d.lastMS = ms
	m := newMsg(d.pool, remux.KindAudio, uint32(ms), 1+len(p.Payload))
	m.Payload[0] = d.head
	copy(m.Payload[1:], p.Payload)
	m.Parse()
	d.Frames++
	return append(out, m)
}

// Depacketizer is what every depacketizer of this package implements: Push
// consumes one RTP packet with its presentation time in the track's clock
// units and appends the messages it completes to out.
type Depacketizer interface {
	Push(p *rtp.Packet, pts int64, out []*remux.Message) []*remux.Message
}

var (
	_ Depacketizer = (*VideoDepacketizer)(nil)
	_ Depacketizer = (*AACDepacketizer)(nil)
	_ Depacketizer = (*G711Depacketizer)(nil)
)
