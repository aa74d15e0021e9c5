package remux

import (
	"encoding/binary"
	"fmt"
)

// FourCC identifies a codec the way Enhanced RTMP and MP4 do.
type FourCC uint32

// Codecs tapedeck recognises. Legacy FLV codec ids are mapped onto these.
const (
	CodecAVC  FourCC = 0x61766331 // avc1
	CodecHEVC FourCC = 0x68766331 // hvc1
	CodecAV1  FourCC = 0x61763031 // av01
	CodecVP9  FourCC = 0x76703039 // vp09
	CodecVP8  FourCC = 0x76703038 // vp08
	CodecVVC  FourCC = 0x76766331 // vvc1
	CodecAAC  FourCC = 0x6D703461 // mp4a
	CodecOpus FourCC = 0x4F707573 // Opus
	CodecFLAC FourCC = 0x664C6143 // fLaC
	CodecAC3  FourCC = 0x61632D33 // ac-3
	CodecEAC3 FourCC = 0x65632D33 // ec-3
	CodecMP3  FourCC = 0x2E6D7033 // .mp3
)

func (f FourCC) String() string {
	if f == 0 {
		return "none"
	}
	b := [4]byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08x", uint32(f))
		}
	}
	return string(b[:])
}

// Frame is what consumers need to know about a media message, parsed once.
type Frame struct {
	Codec          FourCC
	Keyframe       bool  // a video frame a decoder can start from
	SequenceHeader bool  // codec configuration (AVC/HEVC record, AudioSpecificConfig, ...)
	Enhanced       bool  // carried with an Enhanced RTMP (ExHeader) tag header
	CTS            int32 // composition time offset in ms (PTS - DTS), video only
	// Track is the Enhanced RTMP multitrack track id (of the first track in
	// the message); 0 is the default track every legacy player reads.
	Track uint8
}

// Legacy FLV video codec ids.
const (
	flvVideoAVC        = 7
	flvVideoHEVCLegacy = 12 // pre-standard "CDN union" HEVC-in-FLV
)

// ParseVideo reads the (legacy or Enhanced RTMP) video tag header of b.
// Unknown or truncated headers yield a zero Frame rather than an error: the
// message is still forwarded as-is, it just is not a keyframe or header.
func ParseVideo(b []byte) Frame {
	if len(b) == 0 {
		return Frame{}
	}
	b0 := b[0]
	frameType := (b0 >> 4) & 0x07
	if b0&0x80 == 0 { // legacy VIDEODATA
		var f Frame
		switch b0 & 0x0F {
		case flvVideoAVC:
			f.Codec = CodecAVC
		case flvVideoHEVCLegacy:
			f.Codec = CodecHEVC
		default:
			f.Keyframe = frameType == 1
			return f
		}
		if frameType == 5 || len(b) < 5 { // command frame: no media
			return f
		}
		switch b[1] {
		case 0:
			f.SequenceHeader = true
		case 1:
			f.Keyframe = frameType == 1
			f.CTS = int32(uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])) << 8 >> 8
		}
		return f
	}
	// Enhanced RTMP ExVideoTagHeader.
	f := Frame{Enhanced: true}
	pt := b0 & 0x0F
	rest := b[1:]
	for pt == 7 { // ModEx prefix: skip its data
		var ok bool
		if rest, ok = SkipModEx(rest); !ok || len(rest) < 1 {
			return f
		}
		pt = rest[0] & 0x0F
		rest = rest[1:]
	}
	if frameType == 5 && pt != 4 { // command frame: no FourCC
		return f
	}
	multitrack, mt := false, byte(0)
	if pt == 6 { // multitrack: next byte carries the real packet type
		if len(rest) < 1 {
			return f
		}
		multitrack, mt = true, rest[0]>>4
		pt = rest[0] & 0x0F
		rest = rest[1:]
	}
	if len(rest) < 4 {
		return f
	}
	f.Codec = FourCC(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if multitrack {
		// Track id, then (unless OneTrack) the UI24 size of the track's data.
		if len(rest) < 1 {
			return f
		}
		f.Track = rest[0]
		rest = rest[1:]
		if mt != 0 {
			if len(rest) < 3 {
				return f
			}
			rest = rest[3:]
		}
	}
	switch pt {
	case 0, 5: // SequenceStart, MPEG2TSSequenceStart
		f.SequenceHeader = true
	case 1: // CodedFrames
		f.Keyframe = frameType == 1
		if (f.Codec == CodecAVC || f.Codec == CodecHEVC || f.Codec == CodecVVC) && len(rest) >= 3 {
			f.CTS = int32(uint32(rest[0])<<16|uint32(rest[1])<<8|uint32(rest[2])) << 8 >> 8
		}
	case 3: // CodedFramesX
		f.Keyframe = frameType == 1
	}
	return f
}

// SkipModEx skips one Enhanced RTMP ModEx data block (size byte(s) + data)
// and returns the remainder, which starts with the byte holding the next
// packet type; false when b is too short.
func SkipModEx(b []byte) ([]byte, bool) {
	if len(b) < 1 {
		return nil, false
	}
	size := int(b[0]) + 1
	b = b[1:]
	if size == 256 {
		if len(b) < 2 {
			return nil, false
		}
		size = int(binary.BigEndian.Uint16(b)) + 1
		b = b[2:]
	}
	if len(b) < size {
		return nil, false
	}
	return b[size:], true
}

// Legacy FLV sound formats we map to codecs.
const (
	flvSoundMP3   = 2
	flvSoundAAC   = 10
	flvSoundMP38k = 14
	flvSoundEx    = 9 // Enhanced RTMP ExAudioTagHeader
)

// ParseAudio reads the (legacy or Enhanced RTMP) audio tag header of b.
func ParseAudio(b []byte) Frame {
	if len(b) == 0 {
		return Frame{}
	}
	format := b[0] >> 4
	switch format {
	case flvSoundAAC:
		return Frame{Codec: CodecAAC, SequenceHeader: len(b) >= 2 && b[1] == 0}
	case flvSoundMP3, flvSoundMP38k:
		return Frame{Codec: CodecMP3}
	case flvSoundEx:
	default:
		return Frame{}
	}
	f := Frame{Enhanced: true}
	pt := b[0] & 0x0F
	rest := b[1:]
	for pt == 7 {
		var ok bool
		if rest, ok = SkipModEx(rest); !ok || len(rest) < 1 {
			return f
		}
		pt = rest[0] & 0x0F
		rest = rest[1:]
	}
	multitrack := false
	if pt == 5 { // multitrack
		if len(rest) < 1 {
			return f
		}
		multitrack = true
		pt = rest[0] & 0x0F
		rest = rest[1:]
	}
	if len(rest) < 4 {
		return f
	}
	f.Codec = FourCC(binary.BigEndian.Uint32(rest))
	f.SequenceHeader = pt == 0
	if multitrack && len(rest) > 4 {
		f.Track = rest[4]
	}
	return f
}
