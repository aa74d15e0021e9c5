package recorder

import (
	"errors"
	"fmt"

	"github.com/tapedeck/tapedeck/remux"
)

// payloadKind says what a media payload carries once its FLV/E-RTMP tag
// header is peeled off.
type payloadKind uint8

const (
	pkSkip   payloadKind = iota // nothing to record in MP4 (command, end of sequence, multitrack, ...)
	pkConfig                    // codec configuration record
	pkFrame                     // one coded frame
	pkPass                      // FLV keeps it as received, MP4 ignores it (E-RTMP metadata, multitrack, channel layout)
)

// payload is a media message's body without its tag header.
type payload struct {
	kind  payloadKind
	codec remux.FourCC // 0 for legacy codecs MP4 cannot carry (VP6, PCM, ...)
	data  []byte       // aliases the message payload
	cts   int32        // composition offset in ms (video)
	key   bool
}

// payloadOf classifies a media message by the Frame parsed from its tag
// header at ingest (remux.Message.Parse): the recorder never walks a tag
// header itself. body is the tag body the Frame was parsed from.
// Multitrack messages are passed through to FLV as they came; MP4 records
// each of their tracks as a trak of its own (multitrack.go, trackPayload).
func payloadOf(f remux.Frame, body []byte) payload {
	if f.Multitrack != remux.NotMultitrack {
		return payload{kind: pkPass}
	}
	return trackPayload(f, body)
}

// trackPayload classifies one track of a message, multitrack or not.
func trackPayload(f remux.Frame, body []byte) payload {
	switch f.Packet {
	case remux.PacketSequenceStart:
		return payload{kind: pkConfig, codec: f.Codec, data: f.Data(body)}
	case remux.PacketCodedFrames, remux.PacketCodedFramesX:
		return payload{kind: pkFrame, codec: f.Codec, data: f.Data(body), cts: f.CTS, key: f.Keyframe}
	case remux.PacketMetadata, remux.PacketMultichannelConfig:
		return payload{kind: pkPass}
	}
	// Command frames, sequence ends, AV1's MPEG-2 TS descriptor (MP4 takes
	// the av1C only), and what did not parse.
	return payload{}
}

// messagePayload is payloadOf for a message.
func messagePayload(m *remux.Message) payload { return payloadOf(m.Frame, m.Payload) }

// parseVideo classifies a video tag body read back from a file (crash
// recovery), where no Message carries a parsed Frame.
func parseVideo(b []byte) payload { return payloadOf(remux.ParseVideo(b), b) }

// trackConfig is what an MP4 sample entry needs to describe a track.
type trackConfig struct {
	codec remux.FourCC
	// record is the codec configuration, owned: avcC, hvcC, av1C, vpcC
	// content, the AudioSpecificConfig, the OpusHead; for FLAC the dfLa
	// content (metadata blocks), for AC-3 and E-AC-3 the dac3 and dec3
	// content built from the first syncframe (ac3config.go).
	record []byte

	width, height uint16

	sampleRate   uint32
	channels     uint16
	frameSamples uint32          // fixed samples per frame (AAC 1024, MP3 1152), 0 = derive from timestamps
	objectType   uint8           // esds objectTypeIndication for mp4a (0x40 AAC, 0x6B MP3)
	opus         *remux.OpusHead // parsed from record; nil for other codecs or an unreadable OpusHead
	sampleSize   uint16          // the sample entry's samplesize: FLAC's bits per sample, else 16
}

var errNoConfig = errors.New("no codec configuration")

// describedByFrame reports whether an MP4 track of audio codec c is
// described from its first frame: MP3 has no sequence header, and the
// AC-3 and E-AC-3 sequence starts are empty (enhanced-rtmp.md §3).
func describedByFrame(c remux.FourCC) bool {
	return c == remux.CodecMP3 || c == remux.CodecAC3 || c == remux.CodecEAC3
}

// mp4VideoCodec reports whether the fMP4 writer can carry video codec c.
func mp4VideoCodec(c remux.FourCC) bool {
	switch c {
	case remux.CodecAVC, remux.CodecHEVC, remux.CodecAV1, remux.CodecVP9:
		return true
	}
	return false
}

// mp4AudioCodec reports whether the fMP4 writer can carry audio codec c.
func mp4AudioCodec(c remux.FourCC) bool {
	switch c {
	case remux.CodecAAC, remux.CodecOpus, remux.CodecMP3, remux.CodecFLAC, remux.CodecAC3, remux.CodecEAC3:
		return true
	}
	return false
}

// newVideoConfig validates a video configuration record and reads the
// picture size from it where it can (AVC and HEVC SPS, AV1 sequence header).
func newVideoConfig(c remux.FourCC, rec []byte) (*trackConfig, error) {
	tc := &trackConfig{codec: c, record: append([]byte(nil), rec...)}
	switch c {
	case remux.CodecAVC:
		if len(rec) < 7 || rec[0] != 1 {
			return nil, fmt.Errorf("bad AVCDecoderConfigurationRecord (%d bytes)", len(rec))
		}
		if sps, err := remux.ParseAVCRecordSPS(rec); err == nil {
			tc.width, tc.height = pictureSize(sps.Width(), sps.Height())
		}
	case remux.CodecHEVC:
		if len(rec) < 23 || rec[0] != 1 {
			return nil, fmt.Errorf("bad HEVCDecoderConfigurationRecord (%d bytes)", len(rec))
		}
		if sps, err := remux.ParseHEVCRecordSPS(rec); err == nil {
			tc.width, tc.height = pictureSize(sps.Width(), sps.Height())
		}
	case remux.CodecAV1:
		av1C, err := remux.ParseAV1Config(rec)
		if err != nil {
			return nil, err
		}
		if sh, err := remux.ParseAV1SequenceHeader(av1C.ConfigOBUs); err == nil {
			tc.width, tc.height = pictureSize(sh.Width(), sh.Height())
		}
	case remux.CodecVP9:
		// The picture size is in the keyframes (sizeFromVP9Keyframe).
		if _, err := remux.ParseVP9Config(rec); err != nil {
			return nil, err
		}
		tc.record = append(tc.record[:0], remux.VP9Record(rec)...) // vpcC content without the box's version/flags
	default:
		return nil, fmt.Errorf("video codec %v not supported in MP4", c)
	}
	return tc, nil
}

// sizeFromVP9Keyframe fills in a VP9 track's picture size, which its vpcC
// does not carry, from the uncompressed header of its first keyframe.
func (tc *trackConfig) sizeFromVP9Keyframe(frame []byte) {
	if tc == nil || tc.codec != remux.CodecVP9 || tc.width != 0 {
		return
	}
	if h, err := remux.ParseVP9FrameHeader(frame); err == nil && !h.NonKeyFrame {
		tc.width, tc.height = pictureSize(h.Width(), h.Height())
	}
}

// pictureSize is the size an MP4 sample entry carries: 0x0 (unknown) for
// what no real SPS describes, such as sizes from a malformed one.
func pictureSize(w, h int) (uint16, uint16) {
	if w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return 0, 0
	}
	return uint16(w), uint16(h)
}

// newAudioConfig builds an audio track description from a sequence header
// (AAC AudioSpecificConfig, OpusHead, FLAC STREAMINFO) or, for MP3, AC-3
// and E-AC-3 (describedByFrame), from the first frame.
func newAudioConfig(c remux.FourCC, rec []byte) (*trackConfig, error) {
	tc := &trackConfig{codec: c, record: append([]byte(nil), rec...), sampleSize: 16}
	switch c {
	case remux.CodecAAC:
		asc, err := remux.ParseAACConfig(rec)
		if err != nil {
			return nil, err
		}
		tc.sampleRate, tc.channels, tc.objectType = asc.SampleRate, uint16(asc.ChannelCount()), 0x40
		tc.frameSamples = uint32(asc.FrameLength)
		if tc.channels == 0 { // defined by a program config element: a guess
			tc.channels = 2
		}
	case remux.CodecOpus:
		// Opus always decodes at 48 kHz. The sequence start may be empty
		// (enhanced-rtmp.md §3): stereo then, and a dOps that says so.
		tc.sampleRate, tc.channels = 48000, 2
		if h, err := remux.ParseOpusHead(rec); err == nil {
			tc.channels, tc.opus = uint16(h.Channels), &h
		}
	case remux.CodecMP3:
		h, err := remux.ParseMPEGAudioHeader(rec)
		if err != nil {
			return nil, err
		}
		tc.sampleRate, tc.channels, tc.frameSamples, tc.objectType = h.SampleRate, uint16(h.Channels), h.SamplesPerFrame, 0x6B
		tc.record = nil
	case remux.CodecFLAC:
		si, err := remux.ParseFLACConfig(rec)
		if err != nil {
			return nil, err
		}
		tc.sampleRate, tc.channels, tc.sampleSize = si.SampleRate, uint16(si.Channels), uint16(si.BitsPerSample)
		if si.MinBlockSize == si.MaxBlockSize { // fixed block size (every encoder's default)
			tc.frameSamples = uint32(si.MaxBlockSize)
		}
		tc.record = append(tc.record[:0], si.Blocks...)
	case remux.CodecAC3, remux.CodecEAC3:
		return ac3Config(c, rec)
	default:
		return nil, fmt.Errorf("audio codec %v not supported in MP4", c)
	}
	return tc, nil
}
