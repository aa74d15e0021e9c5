package remux

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// VP9Config is a VPCodecConfigurationRecord (VP Codec ISO Media File Format
// Binding §2.2, the vpcC box content after its version and flags): the
// SequenceStart body of an Enhanced RTMP vp09 track, which ffmpeg sends as
// the 8-byte record without the box's version/flags.
type VP9Config struct {
	Profile                 uint8 // 0..3
	Level                   uint8 // level × 10, e.g. 31 for 3.1
	BitDepth                uint8 // 8, 10 or 12
	ChromaSubsampling       uint8 // 0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4
	FullRange               bool  // videoFullRangeFlag
	ColourPrimaries         uint8 // ITU-T H.273 code points
	TransferCharacteristics uint8
	MatrixCoefficients      uint8
	// CodecInitData aliases the parsed record; empty for VP8 and VP9.
	CodecInitData []byte
}

// VP9Record returns the VPCodecConfigurationRecord of a vp09 SequenceStart
// body. Publishers send it in two forms: ffmpeg the 8-byte record alone,
// gortmplib (MediaMTX) the whole vpcC box content, version 1 and flags 0
// first. The record alone is taken when its codecInitializationDataSize
// accounts for the bytes that follow; else, with version 1 and zero flags,
// what follows the 4 bytes. It aliases body.
func VP9Record(body []byte) []byte {
	if len(body) >= 8 && int(binary.BigEndian.Uint16(body[6:])) == len(body)-8 {
		return body
	}
	if len(body) >= 12 && body[0] == 1 && body[1] == 0 && body[2] == 0 && body[3] == 0 &&
		int(binary.BigEndian.Uint16(body[10:])) == len(body)-12 {
		return body[4:]
	}
	return body
}

// ParseVP9Config parses a VPCodecConfigurationRecord, in either form
// VP9Record takes. mediacommon has no parser for it (only for the frame
// header), hence this one: 8 fixed bytes.
func ParseVP9Config(rec []byte) (VP9Config, error) {
	rec = VP9Record(rec)
	if len(rec) < 8 {
		return VP9Config{}, fmt.Errorf("vpcC: %d bytes, want at least 8", len(rec))
	}
	n := int(binary.BigEndian.Uint16(rec[6:]))
	if n > len(rec)-8 {
		return VP9Config{}, fmt.Errorf("vpcC: codecInitializationDataSize %d, %d bytes follow", n, len(rec)-8)
	}
	c := VP9Config{
		Profile:                 rec[0],
		Level:                   rec[1],
		BitDepth:                rec[2] >> 4,
		ChromaSubsampling:       (rec[2] >> 1) & 0x07,
		FullRange:               rec[2]&0x01 != 0,
		ColourPrimaries:         rec[3],
		TransferCharacteristics: rec[4],
		MatrixCoefficients:      rec[5],
		CodecInitData:           rec[8 : 8+n],
	}
	switch {
	case c.BitDepth != 8 && c.BitDepth != 10 && c.BitDepth != 12:
		return VP9Config{}, fmt.Errorf("vpcC: bit depth %d", c.BitDepth)
	case c.ChromaSubsampling > 3:
		return VP9Config{}, fmt.Errorf("vpcC: chroma subsampling %d is reserved", c.ChromaSubsampling)
	}
	return c, nil
}

// ParseVP9FrameHeader parses the uncompressed header at the start of a VP9
// frame (VP9 Bitstream Specification §6.2) with mediacommon's vp9.Header.
// For a keyframe (NonKeyFrame false) it carries the profile, bit depth,
// colour space, subsampling and the frame size (Width, Height). A
// superframe's first frame starts at the first byte, so frame may be one.
func ParseVP9FrameHeader(frame []byte) (vp9.Header, error) {
	var h vp9.Header
	if err := h.Unmarshal(frame); err != nil {
		return h, fmt.Errorf("vp9 frame header: %w", err)
	}
	return h, nil
}
