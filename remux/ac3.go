package remux

import (
	"errors"
	"fmt"
)

// AC3Header is what tapedeck reads from the start of an AC-3 (ATSC A/52,
// ETSI TS 102 366 §4.4.1-2) or E-AC-3 (Annex E) syncframe: the frames of
// the Enhanced RTMP ac-3 and ec-3 FourCCs, whose SequenceStart carries
// nothing (enhanced-rtmp.md §3), so an MP4 writer describes the track —
// its dac3 or dec3 box — from the first frame, as for MP3.
type AC3Header struct {
	EAC3  bool  // bsid 11..16: Annex E syntax
	Fscod uint8 // sample rate code; 3 for the E-AC-3 reduced rates (Fscod2 then)
	Bsid  uint8
	Bsmod uint8 // AC-3 only; E-AC-3 carries it deep in the BSI, 0 here (main audio)
	Acmod uint8 // audio coding mode: the full-bandwidth channel layout
	Lfeon bool
	// AC-3: the frame size code; its half is the dac3 bit_rate_code.
	Frmsizecod uint8
	// E-AC-3: stream type (0 independent, 1 dependent, 2 AC-3 converted),
	// substream id, and a dependent substream's custom channel map.
	Strmtyp     uint8
	Substreamid uint8
	Chanmap     uint16 // 0 when the frame carries none

	SampleRate      uint32
	SamplesPerFrame uint32 // 1536 for AC-3; 256 per audio block for E-AC-3
	FrameSize       int    // bytes of the syncframe
	BitRate         uint32 // kbit/s
}

// Channels is the number of output channels: the full-bandwidth ones of
// the coding mode, and the LFE.
func (h AC3Header) Channels() int {
	n := int([8]uint8{2, 1, 2, 3, 3, 4, 4, 5}[h.Acmod&7])
	if h.Lfeon {
		n++
	}
	return n
}

var errNoAC3Sync = errors.New("ac-3: no syncword")

// ac3Bitrates is the nominal bit rate (kbit/s) of each frmsizecod/2
// (TS 102 366 Table 4.13).
var ac3Bitrates = [19]uint32{32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640}

// ParseAC3Header parses the syncframe header at the start of b, AC-3 or
// E-AC-3 as its bsid says.
func ParseAC3Header(b []byte) (AC3Header, error) {
	if len(b) < 6 || b[0] != 0x0B || b[1] != 0x77 {
		return AC3Header{}, errNoAC3Sync
	}
	var h AC3Header
	h.Bsid = b[5] >> 3
	switch {
	case h.Bsid <= 10:
		return h, h.parseAC3(b)
	case h.Bsid <= 16:
		h.EAC3 = true
		return h, h.parseEAC3(b)
	}
	return AC3Header{}, fmt.Errorf("ac-3: bsid %d", h.Bsid)
}

// parseAC3 reads syncinfo() and the start of bsi() (§4.4.1, §4.4.2).
func (h *AC3Header) parseAC3(b []byte) error {
	r := NewBitReader(b[4:])
	h.Fscod = uint8(r.U(2))
	h.Frmsizecod = uint8(r.U(6))
	r.Skip(5) // bsid
	h.Bsmod = uint8(r.U(3))
	h.Acmod = uint8(r.U(3))
	if h.Acmod&1 != 0 && h.Acmod != 1 {
		r.Skip(2) // cmixlev
	}
	if h.Acmod&4 != 0 {
		r.Skip(2) // surmixlev
	}
	if h.Acmod == 2 {
		r.Skip(2) // dsurmod
	}
	h.Lfeon = r.U(1) == 1
	if !r.Ok() {
		return errors.New("ac-3: bsi cut")
	}
	if h.Fscod == 3 || h.Frmsizecod > 37 {
		return fmt.Errorf("ac-3: reserved fscod %d or frmsizecod %d", h.Fscod, h.Frmsizecod)
	}
	h.SampleRate = [3]uint32{48000, 44100, 32000}[h.Fscod]
	h.SamplesPerFrame = 1536
	h.BitRate = ac3Bitrates[h.Frmsizecod>>1]
	// Words per frame (Table 4.13): the bit rate over the frame rate; at
	// 44.1 kHz the odd codes carry one word more.
	words := int(h.BitRate) * 1000 * 1536 / (int(h.SampleRate) * 16)
	if h.Fscod == 1 {
		words += int(h.Frmsizecod & 1)
	}
	h.FrameSize = 2 * words
	return nil
}

// parseEAC3 reads an Annex E syncframe's header: syncinfo() is just the
// syncword; bsi() starts with strmtyp (§E.1.2.1, §E.1.2.2).
func (h *AC3Header) parseEAC3(b []byte) error {
	r := NewBitReader(b[2:])
	h.Strmtyp = uint8(r.U(2))
	h.Substreamid = uint8(r.U(3))
	h.FrameSize = 2 * (int(r.U(11)) + 1)
	h.Fscod = uint8(r.U(2))
	numblkscod := uint32(3)
	if h.Fscod == 3 {
		fscod2 := r.U(2)
		if fscod2 == 3 {
			return errors.New("e-ac-3: reserved fscod2")
		}
		h.SampleRate = [3]uint32{24000, 22050, 16000}[fscod2]
	} else {
		numblkscod = r.U(2)
		h.SampleRate = [3]uint32{48000, 44100, 32000}[h.Fscod]
	}
	h.Acmod = uint8(r.U(3))
	h.Lfeon = r.U(1) == 1
	r.Skip(5) // bsid
	r.Skip(5) // dialnorm
	if r.U(1) == 1 {
		r.Skip(8) // compr
	}
	if h.Acmod == 0 { // 1+1: the second channel's
		r.Skip(5)
		if r.U(1) == 1 {
			r.Skip(8)
		}
	}
	if h.Strmtyp == 1 && r.U(1) == 1 {
		h.Chanmap = uint16(r.U(16))
	}
	if !r.Ok() {
		return errors.New("e-ac-3: bsi cut")
	}
	if h.Strmtyp == 3 {
		return errors.New("e-ac-3: reserved strmtyp 3")
	}
	h.SamplesPerFrame = 256 * [4]uint32{1, 2, 3, 6}[numblkscod]
	h.BitRate = uint32(h.FrameSize) * 8 * h.SampleRate / h.SamplesPerFrame / 1000
	return nil
}
