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

// Frame is what consumers need to know about a media message, parsed once
// at ingest from its (legacy FLV or Enhanced RTMP) tag header, so that no
// consumer walks the header again: the recorder takes the codec payload at
// Body, the hub and players test Keyframe and SequenceHeader.
//
// For a multitrack message the fields describe its first track; the
// message's other tracks follow that track's data (Multitrack says how).
type Frame struct {
	Codec  FourCC
	Packet PacketType // what the body holds
	// Keyframe: a video frame a decoder can start from (PacketCodedFrames or
	// PacketCodedFramesX with VideoFrameType 1).
	Keyframe bool
	// SequenceHeader: codec configuration (PacketSequenceStart, or AV1's
	// PacketMPEG2TSSequenceStart).
	SequenceHeader bool
	Enhanced       bool // carried with an Enhanced RTMP (ExHeader) tag header
	// FrameType is a video tag's VideoFrameType: 1 key, 2 inter, 3
	// disposable inter, 4 generated key, 5 command; meaningless for
	// PacketMetadata (enhanced-rtmp.md §1.1). 0 for audio.
	FrameType uint8
	CTS       int32 // composition time offset in ms (PTS - DTS), video only
	// Multitrack is the layout of an Enhanced RTMP multitrack message,
	// NotMultitrack for every other message.
	Multitrack MultitrackType
	// Track is the Enhanced RTMP multitrack track id (of the first track in
	// the message); 0 is the default track every legacy player reads.
	Track uint8
	// NanoOffset is the ModEx TimestampOffsetNano (enhanced-rtmp.md §4):
	// nanoseconds, 0 to 999999, to add to the message's millisecond timestamp.
	NanoOffset uint32
	// Body and BodyEnd delimit the codec payload in the tag body: what
	// follows the header byte(s), the FourCC, the track id and size and the
	// composition offset. BodyEnd is the end of the message except when
	// more tracks follow (ManyTracks, ManyTracksManyCodecs). Both are 0
	// when the packet carries no payload a consumer can use
	// (PacketUnknown, PacketCommand).
	Body, BodyEnd uint32
}

// Data returns the codec payload of payload, which must be the tag body f
// was parsed from (Message.Payload for Message.Frame); nil when there is none.
func (f Frame) Data(payload []byte) []byte {
	if f.BodyEnd == 0 || f.Body > f.BodyEnd || uint64(f.BodyEnd) > uint64(len(payload)) {
		return nil
	}
	return payload[f.Body:f.BodyEnd]
}

// MetadataCodecID is the number onMetaData's videocodecid or audiocodecid
// carries for f's codec (enhanced-rtmp.md §2): the FourCC as a number when
// f came with an Enhanced RTMP header, else the legacy FLV id (7 AVC, 12
// pre-standard HEVC, 10 AAC, 2 MP3); 0 for what tapedeck has no FourCC for.
func (f Frame) MetadataCodecID() uint32 {
	if f.Enhanced {
		return uint32(f.Codec)
	}
	switch f.Codec {
	case CodecAVC:
		return flvVideoAVC
	case CodecHEVC:
		return flvVideoHEVCLegacy
	case CodecAAC:
		return flvSoundAAC
	case CodecMP3:
		return flvSoundMP3
	}
	return 0
}

// Legacy FLV video codec ids.
const (
	flvVideoAVC        = 7
	flvVideoHEVCLegacy = 12 // pre-standard "CDN union" HEVC-in-FLV
)

// Video frame types (enhanced-rtmp.md §1.1) that change how a tag is read.
const (
	videoFrameKey     = 1
	videoFrameCommand = 5
)

// Enhanced RTMP VideoPacketType and AudioPacketType wire values.
const (
	exSequenceStart        = 0
	exCodedFrames          = 1
	exSequenceEnd          = 2
	exVideoCodedFramesX    = 3
	exVideoMetadata        = 4
	exVideoMPEG2TSSeqStart = 5
	exVideoMultitrack      = 6
	exAudioMultichannel    = 4
	exAudioMultitrack      = 5
	exModEx                = 7
	exModExTimestampNano   = 0 // ModExType TimestampOffsetNano
)

// ParseVideo reads the (legacy or Enhanced RTMP) video tag header of b.
// Unknown or truncated headers yield PacketUnknown (never a keyframe or a
// sequence header) rather than an error: the message is still forwarded
// as-is, it just is not a keyframe or header.
func ParseVideo(b []byte) Frame {
	var f Frame
	f.parseVideo(b)
	return f
}

// parseVideo is ParseVideo into f, which must be zero: Message.Parse fills
// its Frame in place rather than copying a returned one.
func (f *Frame) parseVideo(b []byte) {
	if len(b) == 0 {
		return
	}
	frameType := (b[0] >> 4) & 0x07
	f.FrameType = frameType
	if b[0]&0x80 == 0 {
		f.parseLegacyVideo(b, frameType)
		return
	}
	f.parseExHeader(b, true, frameType)
}

// parseExHeader reads an Enhanced RTMP ExVideoTagHeader (video) or
// ExAudioTagHeader: the same layout, with packet types 3 to 6 meaning
// different things for audio and video.
func (f *Frame) parseExHeader(b []byte, video bool, frameType byte) {
	f.Enhanced = true
	multitrack := byte(exAudioMultitrack)
	if video {
		multitrack = exVideoMultitrack
	}
	pt, p, end, ok := f.exHeader(b, multitrack, video && frameType == videoFrameCommand)
	if !ok {
		return
	}
	switch {
	case pt == exSequenceStart:
		f.Packet, f.SequenceHeader = PacketSequenceStart, true
	case pt == exCodedFrames:
		if video && hasCTS(f.Codec) {
			if end-p < 3 {
				return // the composition offset is cut
			}
			f.CTS = si24(b[p:])
			p += 3
		}
		f.Packet, f.Keyframe = PacketCodedFrames, video && isKeyframe(f.Codec, frameType, b[p:end])
	case pt == exSequenceEnd:
		f.Packet = PacketSequenceEnd
	case video && pt == exVideoCodedFramesX:
		f.Packet, f.Keyframe = PacketCodedFramesX, isKeyframe(f.Codec, frameType, b[p:end])
	case video && pt == exVideoMetadata:
		f.Packet = PacketMetadata // its frame type is to be ignored (§1.1)
	case video && pt == exVideoMPEG2TSSeqStart:
		f.Packet, f.SequenceHeader = PacketMPEG2TSSequenceStart, true
	case !video && pt == exAudioMultichannel:
		f.Packet = PacketMultichannelConfig
	default: // reserved
		return
	}
	f.Body, f.BodyEnd = uint32(p), uint32(end)
}

// parseLegacyVideo reads a legacy VIDEODATA header (flv-mp4.md §1.4).
func (f *Frame) parseLegacyVideo(b []byte, frameType byte) {
	switch b[0] & 0x0F {
	case flvVideoAVC:
		f.Codec = CodecAVC
	case flvVideoHEVCLegacy:
		f.Codec = CodecHEVC
	default:
		// Codecs without a packet type byte (H.263, VP6, screen video):
		// the frame follows the first byte.
		if frameType == videoFrameCommand {
			f.Packet = PacketCommand
			return
		}
		f.Packet, f.Keyframe = PacketCodedFrames, frameType == videoFrameKey
		f.Body, f.BodyEnd = 1, uint32(len(b))
		return
	}
	if frameType == videoFrameCommand { // command frame: no media
		f.Packet = PacketCommand
		return
	}
	if len(b) < 5 { // AVCPacketType and SI24 CompositionTime
		return
	}
	switch b[1] {
	case 0:
		f.Packet, f.SequenceHeader = PacketSequenceStart, true
	case 1:
		f.Packet, f.Keyframe = PacketCodedFrames, isKeyframe(f.Codec, frameType, b[5:])
		f.CTS = si24(b[2:])
	case 2:
		f.Packet = PacketSequenceEnd
	default:
		return
	}
	f.Body, f.BodyEnd = 5, uint32(len(b))
}

// exHeader walks what ExVideoTagHeader and ExAudioTagHeader share
// (enhanced-rtmp.md §1.2, §3): the ModEx prefixes, the multitrack byte, the
// FourCC, and a multitrack message's first track id and size. It fills
// f.Codec, f.Multitrack, f.Track and f.NanoOffset and returns the packet
// type and where the first track's packet body starts and ends. ok is false
// when b ends inside the header or the message is a video command frame
// (f.Packet set to PacketCommand).
func (f *Frame) exHeader(b []byte, multitrackPT byte, command bool) (pt byte, p, end int, ok bool) {
	pt, p = b[0]&0x0F, 1
	for pt == exModEx {
		if p, ok = f.modEx(b, p); !ok || p >= len(b) {
			return 0, 0, 0, false
		}
		pt = b[p] & 0x0F
		p++
	}
	if command && pt != exVideoMetadata { // one UI8 VideoCommand, no FourCC
		f.Packet = PacketCommand
		return 0, 0, 0, false
	}
	if pt == multitrackPT {
		if p >= len(b) {
			return 0, 0, 0, false
		}
		mt := MultitrackType(b[p]>>4) + OneTrack
		pt = b[p] & 0x0F
		p++
		if mt > ManyTracksManyCodecs || pt == multitrackPT || pt == exModEx {
			return 0, 0, 0, false // reserved layout, or nested multitrack
		}
		f.Multitrack = mt
	}
	if len(b)-p < 4 {
		return 0, 0, 0, false
	}
	f.Codec = FourCC(binary.BigEndian.Uint32(b[p:]))
	p += 4
	end = len(b)
	if f.Multitrack != NotMultitrack {
		if p >= len(b) {
			return 0, 0, 0, false
		}
		f.Track = b[p]
		p++
		if f.Multitrack != OneTrack {
			if len(b)-p < 3 {
				return 0, 0, 0, false
			}
			size := int(b[p])<<16 | int(b[p+1])<<8 | int(b[p+2])
			p += 3
			if size > len(b)-p {
				return 0, 0, 0, false
			}
			end = p + size
		}
	}
	return pt, p, end, true
}

// modEx reads the ModEx block at b[p:] (size byte(s), then data) and keeps
// a TimestampOffsetNano. It returns the offset of the byte that holds the
// ModExType and the next packet type.
func (f *Frame) modEx(b []byte, p int) (next int, ok bool) {
	if p >= len(b) {
		return 0, false
	}
	size := int(b[p]) + 1
	p++
	if size == 256 {
		if len(b)-p < 2 {
			return 0, false
		}
		size = int(binary.BigEndian.Uint16(b[p:])) + 1
		p += 2
	}
	if len(b)-p < size+1 {
		return 0, false
	}
	data := b[p : p+size]
	p += size
	if b[p]>>4 == exModExTimestampNano && len(data) >= 3 {
		f.NanoOffset = uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2])
	}
	return p, true
}

// isKeyframe decides Frame.Keyframe for coded frames of codec with the
// tag's VideoFrameType: the codec's own signal where tapedeck reads one
// (codecKeyframe), else the frame type.
func isKeyframe(codec FourCC, frameType byte, data []byte) bool {
	if key, known := codecKeyframe(codec, data); known {
		return key
	}
	if codec == CodecAVC && frameType == 0 {
		// AVC keeps its frame type, but 0 is reserved, no frame type at
		// all: gortmplib writes it on every Enhanced RTMP frame, its
		// multitrack avc1 tracks included. The NAL units tell then.
		if key, known := avcKeyframe(data); known {
			return key
		}
	}
	return frameType == videoFrameKey
}

// hasCTS reports whether CodedFrames of codec c start with an SI24
// composition time offset (enhanced-rtmp.md §1.3).
func hasCTS(c FourCC) bool { return c == CodecAVC || c == CodecHEVC || c == CodecVVC }

// si24 reads a big-endian signed 24-bit integer.
func si24(b []byte) int32 {
	return int32(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) << 8 >> 8
}

// Legacy FLV sound formats we map to codecs.
const (
	flvSoundMP3   = 2
	flvSoundAAC   = 10
	flvSoundMP38k = 14
	flvSoundEx    = 9 // Enhanced RTMP ExAudioTagHeader
)

// ParseAudio reads the (legacy or Enhanced RTMP) audio tag header of b.
// An empty b (the legacy silence signal) and unknown or truncated headers
// yield PacketUnknown.
func ParseAudio(b []byte) Frame {
	var f Frame
	f.parseAudio(b)
	return f
}

// parseAudio is ParseAudio into f, which must be zero.
func (f *Frame) parseAudio(b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] >> 4 {
	case flvSoundAAC:
		f.Codec = CodecAAC
		if len(b) < 2 {
			return
		}
		switch b[1] { // AACPacketType
		case 0:
			f.Packet, f.SequenceHeader = PacketSequenceStart, true
		case 1:
			f.Packet = PacketCodedFrames
		default:
			return
		}
		f.Body, f.BodyEnd = 2, uint32(len(b))
		return
	case flvSoundMP3, flvSoundMP38k:
		f.Codec, f.Packet, f.Body, f.BodyEnd = CodecMP3, PacketCodedFrames, 1, uint32(len(b))
		return
	case flvSoundEx:
	default:
		// Legacy formats tapedeck has no FourCC for (PCM, ADPCM, Nellymoser,
		// G.711, Speex): the frames follow the first byte.
		f.Packet, f.Body, f.BodyEnd = PacketCodedFrames, 1, uint32(len(b))
		return
	}
	f.parseExHeader(b, false, 0)
}
