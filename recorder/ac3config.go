package recorder

import (
	"errors"
	"fmt"

	"github.com/tapedeck/tapedeck/remux"
)

// AC-3 and E-AC-3 in MP4 (ETSI TS 102 366 Annex F): sample entries ac-3
// and ec-3 with a dac3 or dec3 box, whose fields come from the syncframe
// headers, since Enhanced RTMP sends no configuration for these codecs.

// errFromFrame: the track is described by its first frame, not by the
// (empty) sequence start.
var errFromFrame = errors.New("described by its first frame")

// ac3Config describes an AC-3 or E-AC-3 track from a frame payload (one
// or more syncframes); an empty payload, the sequence start, is
// errFromFrame.
func ac3Config(c remux.FourCC, frame []byte) (*trackConfig, error) {
	if len(frame) == 0 {
		return nil, errFromFrame
	}
	h, err := remux.ParseAC3Header(frame)
	if err != nil {
		return nil, err
	}
	if h.EAC3 != (c == remux.CodecEAC3) {
		return nil, fmt.Errorf("%v track carrying a bitstream with bsid %d", c, h.Bsid)
	}
	tc := &trackConfig{codec: c, sampleRate: h.SampleRate, channels: uint16(h.Channels()),
		frameSamples: h.SamplesPerFrame, sampleSize: 16}
	if c == remux.CodecAC3 {
		tc.record = appendDAC3(nil, h)
		return tc, nil
	}
	subs, rate, err := eac3Substreams(frame)
	if err != nil {
		return nil, err
	}
	tc.record = appendDEC3(nil, rate, subs)
	return tc, nil
}

// appendDAC3 appends the AC3SpecificBox content (F.4): fscod(2) bsid(5)
// bsmod(3) acmod(3) lfeon(1) bit_rate_code(5) reserved(5).
func appendDAC3(b []byte, h remux.AC3Header) []byte {
	v := uint32(h.Fscod)<<22 | uint32(h.Bsid)<<17 | uint32(h.Bsmod)<<14 | uint32(h.Acmod)<<11 |
		b2u(h.Lfeon)<<10 | uint32(h.Frmsizecod>>1)<<5
	return append(b, byte(v>>16), byte(v>>8), byte(v))
}

// eac3Sub is one independent substream of an E-AC-3 stream and the
// dependent substreams that extend it.
type eac3Sub struct {
	h         remux.AC3Header
	numDepSub uint8
	chanLoc   uint16
}

// eac3Substreams walks the syncframes of one E-AC-3 access unit: each
// independent substream (strmtyp 0 or 2) with the dependent ones (strmtyp
// 1) after it, and the total data rate in kbit/s.
func eac3Substreams(b []byte) ([]eac3Sub, uint32, error) {
	var subs []eac3Sub
	var rate uint32
	for len(b) > 0 && len(subs) <= 8 {
		h, err := remux.ParseAC3Header(b)
		if err != nil || !h.EAC3 || h.FrameSize > len(b) {
			if len(subs) > 0 {
				break // trailing bytes that are not a whole syncframe
			}
			return nil, 0, fmt.Errorf("e-ac-3 access unit: %v", err)
		}
		b = b[h.FrameSize:]
		rate += h.BitRate
		if h.Strmtyp != 1 {
			subs = append(subs, eac3Sub{h: h})
			continue
		}
		if len(subs) == 0 {
			return nil, 0, errors.New("e-ac-3: dependent substream before an independent one")
		}
		s := &subs[len(subs)-1]
		s.numDepSub++
		// chanmap (Table E.1.4) bits 5..12 and 14, counted from the least
		// significant, are chan_loc (Table F.6.3) bits 0..8, as L-SMASH reads them.
		s.chanLoc |= (h.Chanmap>>6)&0x100 | (h.Chanmap>>5)&0xFF
	}
	return subs, rate, nil
}

// appendDEC3 appends the EC3SpecificBox content (F.6): data_rate(13)
// num_ind_sub(3), then per independent substream fscod(2) bsid(5)
// reserved(1) asvc(1) bsmod(3) acmod(3) lfeon(1) reserved(3)
// num_dep_sub(4) and chan_loc(9) or reserved(1).
func appendDEC3(b []byte, rate uint32, subs []eac3Sub) []byte {
	hdr := uint16(min(rate, 1<<13-1))<<3 | uint16(len(subs)-1)&7
	b = append(b, byte(hdr>>8), byte(hdr))
	for _, s := range subs {
		h := s.h
		v := uint32(h.Fscod)<<14 | uint32(h.Bsid)<<9 | uint32(h.Bsmod)<<4 | uint32(h.Acmod)<<1 | b2u(h.Lfeon)
		b = append(b, byte(v>>8), byte(v))
		if s.numDepSub == 0 {
			b = append(b, 0) // reserved(3) num_dep_sub(4)=0 reserved(1)
			continue
		}
		w := uint16(s.numDepSub&0xF)<<9 | s.chanLoc&0x1FF
		b = append(b, byte(w>>8), byte(w))
	}
	return b
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}
