package remux

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// AV1Config is an AV1CodecConfigurationRecord (the av1C box content, AV1
// Codec ISO Media File Format Binding §2.3.3): the SequenceStart body of an
// Enhanced RTMP av01 track. Its fields repeat those of the sequence header
// OBU that ConfigOBUs normally carries.
type AV1Config struct {
	Profile              uint8 // seq_profile: 0 Main, 1 High, 2 Professional
	Level                uint8 // seq_level_idx_0
	HighTier             bool  // seq_tier_0
	HighBitDepth         bool
	TwelveBit            bool
	Monochrome           bool
	ChromaSubsamplingX   bool
	ChromaSubsamplingY   bool
	ChromaSamplePosition uint8
	// InitialPresentationDelay is initial_presentation_delay_minus_one + 1,
	// 0 when the record says it is not present.
	InitialPresentationDelay uint8
	// ConfigOBUs are the OBUs that follow the 4 fixed bytes (normally the
	// sequence header, maybe metadata), aliasing the parsed record.
	ConfigOBUs []byte
}

// BitDepth is 8, 10 or 12, from HighBitDepth and TwelveBit.
func (c AV1Config) BitDepth() int {
	switch {
	case c.HighBitDepth && c.TwelveBit:
		return 12
	case c.HighBitDepth:
		return 10
	}
	return 8
}

// ParseAV1Config parses an av1C record. mediacommon has no parser for the
// record (only for the OBUs inside), hence this one: 4 fixed bytes.
func ParseAV1Config(rec []byte) (AV1Config, error) {
	if len(rec) < 4 {
		return AV1Config{}, fmt.Errorf("av1C: %d bytes, want at least 4", len(rec))
	}
	if rec[0] != 0x81 { // marker 1, version 1
		return AV1Config{}, fmt.Errorf("av1C: marker/version byte %#02x, want 0x81", rec[0])
	}
	c := AV1Config{
		Profile:              rec[1] >> 5,
		Level:                rec[1] & 0x1F,
		HighTier:             rec[2]&0x80 != 0,
		HighBitDepth:         rec[2]&0x40 != 0,
		TwelveBit:            rec[2]&0x20 != 0,
		Monochrome:           rec[2]&0x10 != 0,
		ChromaSubsamplingX:   rec[2]&0x08 != 0,
		ChromaSubsamplingY:   rec[2]&0x04 != 0,
		ChromaSamplePosition: rec[2] & 0x03,
		ConfigOBUs:           rec[4:],
	}
	if rec[3]&0x10 != 0 {
		c.InitialPresentationDelay = rec[3]&0x0F + 1
	}
	return c, nil
}

// AV1 OBU types (AV1 Bitstream & Decoding Process §6.2.2) tapedeck looks for.
const (
	AV1OBUSequenceHeader    = 1
	AV1OBUTemporalDelimiter = 2
	AV1OBUFrameHeader       = 3
	AV1OBUFrame             = 6
)

var errNoOBU = errors.New("av1: no such OBU")

// AV1FindOBU returns the first OBU of type typ, header and size field
// included, in obus: OBUs in the low-overhead format (each with its size
// field), as av1C's configOBUs and Enhanced RTMP av01 CodedFrames carry
// them. It aliases obus; nil when there is none or the OBUs are malformed.
// It is our own walk because it must not allocate: it runs on keyframes.
func AV1FindOBU(obus []byte, typ uint8) []byte {
	for p := 0; p < len(obus); {
		h := obus[p]
		if h&0x80 != 0 || h&0x02 == 0 { // forbidden bit, or no size field
			return nil
		}
		n := 1
		if h&0x04 != 0 { // extension header
			n++
		}
		size, l, ok := leb128(obus[min(p+n, len(obus)):])
		if !ok || size > uint64(len(obus)-p-n-l) {
			return nil
		}
		end := p + n + l + int(size)
		if (h>>3)&0x0F == typ {
			return obus[p:end]
		}
		p = end
	}
	return nil
}

// leb128 reads an unsigned LEB128 (AV1 §4.10.5): at most 8 bytes.
func leb128(b []byte) (v uint64, n int, ok bool) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

// ParseAV1SequenceHeader parses the first sequence header OBU in obus (an
// av1C's ConfigOBUs or a keyframe's temporal unit) with mediacommon's
// av1.SequenceHeader: profile, level and tier per operating point, bit
// depth, monochrome, chroma subsampling, colour, and the maximum frame size.
func ParseAV1SequenceHeader(obus []byte) (av1.SequenceHeader, error) {
	var h av1.SequenceHeader
	obu := AV1FindOBU(obus, AV1OBUSequenceHeader)
	if obu == nil {
		return h, fmt.Errorf("av1 sequence header: %w", errNoOBU)
	}
	if err := h.Unmarshal(obu); err != nil {
		return h, fmt.Errorf("av1 sequence header: %w", err)
	}
	return h, nil
}
