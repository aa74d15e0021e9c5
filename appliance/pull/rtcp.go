package pull

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// RTCP, the receiver's side of it (RFC 3550): reception statistics per
// track and the compound Receiver Report built from them, which many
// cameras require (they stop sending to a receiver that never reports),
// and the Sender Reports read for the reports' LSR/DLSR fields.

// RTCP packet types (RFC 3550 12.1).
const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
)

// reportBlock is one reception report of an RTCP RR (RFC 3550 6.4.1).
type reportBlock struct {
	SSRC         uint32 // the source reported on
	FractionLost uint8  // since the previous report, in 1/256
	Lost         int32  // cumulative, 24-bit signed
	HighestSeq   uint32 // extended highest sequence number received
	Jitter       uint32 // interarrival jitter, RTP clock units
	LSR          uint32 // middle 32 bits of the NTP time of the last SR
	DLSR         uint32 // delay since that SR, 1/65536 s
}

// receiverReport returns a compound RTCP packet from ssrc: a Receiver
// Report with the blocks (at most 31) and the SDES CNAME that RFC 3550 6.1
// requires in every compound packet, which strict senders check.
func receiverReport(ssrc uint32, cname string, blocks ...reportBlock) []byte {
	blocks = blocks[:min(len(blocks), 31)]
	b := make([]byte, 0, 8+24*len(blocks)+12+len(cname))
	b = append(b, 0x80|byte(len(blocks)), rtcpRR)
	b = binary.BigEndian.AppendUint16(b, uint16(1+6*len(blocks))) // length in words - 1
	b = binary.BigEndian.AppendUint32(b, ssrc)
	for _, r := range blocks {
		lost := min(max(r.Lost, -0x800000), 0x7FFFFF)
		b = binary.BigEndian.AppendUint32(b, r.SSRC)
		b = binary.BigEndian.AppendUint32(b, uint32(r.FractionLost)<<24|uint32(lost)&0xFFFFFF)
		b = binary.BigEndian.AppendUint32(b, r.HighestSeq)
		b = binary.BigEndian.AppendUint32(b, r.Jitter)
		b = binary.BigEndian.AppendUint32(b, r.LSR)
		b = binary.BigEndian.AppendUint32(b, r.DLSR)
	}
	cname = cname[:min(len(cname), 255)]
	// SDES: one chunk (SSRC, CNAME item, end of items), padded to 32 bits.
	chunk := 4 + 2 + len(cname) + 1
	chunk += (4 - chunk%4) % 4
	b = append(b, 0x81, rtcpSDES)
	b = binary.BigEndian.AppendUint16(b, uint16(chunk/4))
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = append(b, 1, byte(len(cname)))
	b = append(b, cname...)
	for range chunk - 4 - 2 - len(cname) {
		b = append(b, 0)
	}
	return b
}

// senderReports calls fn with the sender SSRC and the middle 32 bits of
// the NTP timestamp (what an RR returns as LSR) of each Sender Report in a
// compound RTCP packet; the other packets are skipped.
func senderReports(b []byte, fn func(ssrc, ntpMiddle uint32)) {
	for len(b) >= 4 {
		if b[0]>>6 != 2 {
			return
		}
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if n > len(b) {
			return
		}
		if b[1] == rtcpSR && n >= 28 {
			fn(binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[10:]))
		}
		b = b[n:]
	}
}

// rtpStats are the reception statistics of a track for its RTCP receiver
// reports (RFC 3550 A.1, A.3, A.8). The reader updates them, the reporter
// reads them.
type rtpStats struct {
	mu               sync.Mutex
	clock            int64 // Hz
	started          bool
	ssrc             uint32
	baseSeq          uint32
	maxSeq           uint16
	cycles           uint32 // sequence number wraps << 16
	received         uint32
	expPrior         uint32
	recvPrior        uint32
	epoch            time.Time
	transit          uint32
	jitter           float64
	srSSRC           uint32 // sender of the last SR
	lsr              uint32 // its NTP time, middle 32 bits
	srAt             time.Time
	haveSR, haveTran bool
}

// packet counts a received RTP packet.
func (s *rtpStats) packet(h *rtp.Header, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || h.SSRC != s.ssrc {
		// First packet, or the camera restarted its stream.
		s.started, s.ssrc, s.epoch, s.jitter, s.haveTran = true, h.SSRC, now, 0, false
		s.restart(h.SequenceNumber)
	} else {
		switch d := h.SequenceNumber - s.maxSeq; {
		case d == 0: // duplicate
		case d < 3000: // in order, with a gap of less than RFC 3550's MAX_DROPOUT
			if h.SequenceNumber < s.maxSeq {
				s.cycles += 1 << 16
			}
			s.maxSeq = h.SequenceNumber
		case d <= 65536-100: // a jump: count afresh from here
			s.restart(h.SequenceNumber)
		default: // late, within RFC 3550's MAX_MISORDER
		}
	}
	s.received++
	if s.clock > 0 {
		arrival := uint32(now.Sub(s.epoch).Seconds() * float64(s.clock))
		transit := arrival - h.Timestamp
		if s.haveTran {
			d := float64(int32(transit - s.transit))
			if d < 0 {
				d = -d
			}
			s.jitter += (d - s.jitter) / 16
		}
		s.transit, s.haveTran = transit, true
	}
}

func (s *rtpStats) restart(seq uint16) {
	s.baseSeq, s.maxSeq, s.cycles = uint32(seq), seq, 0
	s.received, s.expPrior, s.recvPrior = 0, 0, 0
}

// rtcp takes note of the Sender Reports of the track's source in a
// compound RTCP packet.
func (s *rtpStats) rtcp(b []byte, now time.Time) {
	senderReports(b, func(ssrc, ntpMiddle uint32) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.srSSRC, s.lsr, s.srAt, s.haveSR = ssrc, ntpMiddle, now, true
	})
}

// report returns the reception report block of the interval that ends
// now; false before the first packet.
func (s *rtpStats) report(now time.Time) (reportBlock, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return reportBlock{}, false
	}
	ext := s.cycles + uint32(s.maxSeq)
	expected := ext - s.baseSeq + 1
	b := reportBlock{
		SSRC:       s.ssrc,
		Lost:       int32(min(max(int64(expected)-int64(s.received), -0x800000), 0x7FFFFF)),
		HighestSeq: ext,
		Jitter:     uint32(s.jitter),
	}
	expInt, recvInt := expected-s.expPrior, s.received-s.recvPrior
	s.expPrior, s.recvPrior = expected, s.received
	if lost := int64(expInt) - int64(recvInt); expInt > 0 && lost > 0 {
		b.FractionLost = uint8(min(lost<<8/int64(expInt), 255))
	}
	if s.haveSR && s.srSSRC == s.ssrc {
		b.LSR = s.lsr
		b.DLSR = uint32(now.Sub(s.srAt).Seconds() * 65536)
	}
	return b, true
}
