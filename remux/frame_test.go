package remux

import (
	"bytes"
	"testing"
)

// cat joins byte strings, so FourCCs and bodies can be written as strings.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		default:
			panic("cat: bad part")
		}
	}
	return b
}

// Tag bodies shared by the cases.
var (
	avcC = []byte{0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1F, 0x01, 0x00, 0x04, 0x68, 0xEE, 0x3C, 0x80}
	nalu = []byte{0x00, 0x00, 0x00, 0x02, 0x65, 0x88} // AVCC length-prefixed IDR slice
	// H.265 NAL units, length-prefixed: an IDR_W_RADL slice (type 19,
	// header 0x26 0x01), an IRAP, and a TRAIL_R slice (type 1, 0x02 0x01).
	hevcIDR   = []byte{0x00, 0x00, 0x00, 0x02, 0x26, 0x01}
	hevcTrail = []byte{0x00, 0x00, 0x00, 0x02, 0x02, 0x01}
	hvcC      = []byte{0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5D, 0xF0, 0x00, 0xFC}
	av1C      = []byte{0x81, 0x00, 0x0C, 0x00}
	av1TU     = []byte{0x12, 0x00, 0x0A, 0x0B, 0x00} // temporal delimiter + sequence header OBU start
	opusHd    = []byte("OpusHead\x01\x02\x38\x01\x80\xBB\x00\x00\x00\x00\x00")
	// A TimestampOffsetNano ModEx block: size-1 = 2, UI24 500 ns.
	modExNano = []byte{0x02, 0x00, 0x01, 0xF4}
)

// Video frame types and Enhanced RTMP packet types as the first byte builds them.
func exVideo(frameType, packetType byte) byte { return 0x80 | frameType<<4 | packetType }

// frameCase is one tag body, the Frame it parses to, and the codec payload
// Frame.Data must return (the want Frame's Body and BodyEnd are not set:
// the payload says where they must point).
type frameCase struct {
	name string
	in   []byte
	want Frame
	data []byte
}

// checkFrames runs parse over the cases.
func checkFrames(t *testing.T, parse func([]byte) Frame, tests []frameCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got := parse(in)
			if !bytes.Equal(in, tt.in) {
				t.Error("the parser modified its input")
			}
			d := got.Data(tt.in)
			switch {
			case tt.data == nil && (got.Body != 0 || got.BodyEnd != 0 || d != nil):
				t.Errorf("Body %d, BodyEnd %d, Data % x for a packet without payload", got.Body, got.BodyEnd, d)
			case tt.data != nil && (d == nil || !bytes.Equal(d, tt.data)):
				t.Errorf("Data(% x) = % x (Body %d, BodyEnd %d), want % x", tt.in, d, got.Body, got.BodyEnd, tt.data)
			}
			if got.FrameType != 0 && got.FrameType != (tt.in[0]>>4)&7 {
				t.Errorf("FrameType %d, the first byte says %d", got.FrameType, (tt.in[0]>>4)&7)
			}
			got.Body, got.BodyEnd, got.FrameType = 0, 0, 0
			if got != tt.want {
				t.Errorf("parse(% x)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

// empty is the payload of packets whose body is present but empty.
var empty = []byte{}

func TestParseVideo(t *testing.T) {
	const (
		seq  = PacketSequenceStart
		cf   = PacketCodedFrames
		cfx  = PacketCodedFramesX
		end  = PacketSequenceEnd
		meta = PacketMetadata
		cmd  = PacketCommand
	)
	colorInfo := cat(0x02, 0x00, 0x09, "colorInfo", 0x03, 0, 0, 9)
	vp9Key := []byte{0x82, 0x49, 0x83}
	checkFrames(t, ParseVideo, []frameCase{
		// flv-mp4.md §1.4: legacy VIDEODATA, CodecID 7.
		{"legacy AVC sequence header 17 00", cat(0x17, 0x00, 0, 0, 0, avcC), Frame{Codec: CodecAVC, Packet: seq, SequenceHeader: true}, avcC},
		{"legacy AVC keyframe 17 01", cat(0x17, 0x01, 0, 0, 0, nalu), Frame{Codec: CodecAVC, Packet: cf, Keyframe: true}, nalu},
		{"legacy AVC keyframe with CTS 80", cat(0x17, 0x01, 0, 0, 80, nalu), Frame{Codec: CodecAVC, Packet: cf, Keyframe: true, CTS: 80}, nalu},
		{"legacy AVC inter 27 01", cat(0x27, 0x01, 0, 0, 40, nalu), Frame{Codec: CodecAVC, Packet: cf, CTS: 40}, nalu},
		{"legacy AVC inter negative CTS", cat(0x27, 0x01, 0xFF, 0xFF, 0xD8, nalu), Frame{Codec: CodecAVC, Packet: cf, CTS: -40}, nalu},
		{"legacy AVC disposable inter 37 01", cat(0x37, 0x01, 0, 0, 0, nalu), Frame{Codec: CodecAVC, Packet: cf}, nalu},
		{"legacy AVC end of sequence 17 02", cat(0x17, 0x02, 0, 0, 0), Frame{Codec: CodecAVC, Packet: end}, empty},
		{"legacy AVC reserved AVCPacketType 3", cat(0x17, 0x03, 0, 0, 0, nalu), Frame{Codec: CodecAVC}, nil},
		{"legacy Sorenson H.263 keyframe", cat(0x12, 0x00, 0x00, 0x84), Frame{Packet: cf, Keyframe: true}, []byte{0x00, 0x00, 0x84}},
		{"legacy VP6 inter", cat(0x24, 0x00, 0x00), Frame{Packet: cf}, []byte{0x00, 0x00}},
		// enhanced-rtmp.md §9: pre-standard HEVC, CodecID 12 carried like AVC.
		{"legacy CodecID 12 HEVC sequence header", cat(0x1C, 0x00, 0, 0, 0, hvcC), Frame{Codec: CodecHEVC, Packet: seq, SequenceHeader: true}, hvcC},
		{"legacy CodecID 12 HEVC keyframe", cat(0x1C, 0x01, 0, 0, 0, hevcIDR), Frame{Codec: CodecHEVC, Packet: cf, Keyframe: true}, hevcIDR},
		{"legacy CodecID 12 HEVC inter CTS 40", cat(0x2C, 0x01, 0, 0, 40, hevcTrail), Frame{Codec: CodecHEVC, Packet: cf, CTS: 40}, hevcTrail},

		// enhanced-rtmp.md §1: ExVideoTagHeader.
		{"HEVC SequenceStart 0x90 hvc1", cat(exVideo(1, 0), "hvc1", hvcC), Frame{Codec: CodecHEVC, Packet: seq, SequenceHeader: true, Enhanced: true}, hvcC},
		{"HEVC CodedFrames keyframe CTS 40", cat(exVideo(1, 1), "hvc1", 0, 0, 40, hevcIDR), Frame{Codec: CodecHEVC, Packet: cf, Keyframe: true, Enhanced: true, CTS: 40}, hevcIDR},
		{"HEVC CodedFrames inter negative CTS", cat(exVideo(2, 1), "hvc1", 0xFF, 0xFF, 0xF6, hevcTrail), Frame{Codec: CodecHEVC, Packet: cf, Enhanced: true, CTS: -10}, hevcTrail},
		{"HEVC CodedFramesX keyframe (CTS implied 0)", cat(exVideo(1, 3), "hvc1", 0x00, 0x00, 0x28, 0x26, 0x01), Frame{Codec: CodecHEVC, Packet: cfx, Keyframe: true, Enhanced: true}, []byte{0x00, 0x00, 0x28, 0x26, 0x01}},
		{"HEVC CodedFramesX inter", cat(exVideo(2, 3), "hvc1", hevcTrail), Frame{Codec: CodecHEVC, Packet: cfx, Enhanced: true}, hevcTrail},
		{"HEVC SequenceEnd", cat(exVideo(1, 2), "hvc1"), Frame{Codec: CodecHEVC, Packet: end, Enhanced: true}, empty},
		{"avc1 FourCC CodedFrames keyframe CTS", cat(exVideo(1, 1), "avc1", 0, 0, 40, nalu), Frame{Codec: CodecAVC, Packet: cf, Keyframe: true, Enhanced: true, CTS: 40}, nalu},
		{"avc1 FourCC SequenceStart", cat(exVideo(1, 0), "avc1", avcC), Frame{Codec: CodecAVC, Packet: seq, SequenceHeader: true, Enhanced: true}, avcC},
		{"vvc1 CodedFrames CTS", cat(exVideo(2, 1), "vvc1", 0, 0, 20, nalu), Frame{Codec: CodecVVC, Packet: cf, Enhanced: true, CTS: 20}, nalu},
		{"hvc1 CodedFrames cut inside the CTS", cat(exVideo(1, 1), "hvc1", 0, 0), Frame{Codec: CodecHEVC, Enhanced: true}, nil},
		{"AV1 SequenceStart", cat(exVideo(1, 0), "av01", av1C), Frame{Codec: CodecAV1, Packet: seq, SequenceHeader: true, Enhanced: true}, av1C},
		{"AV1 MPEG2TSSequenceStart", cat(exVideo(1, 5), "av01", 0x80, 0x04, "AV01"), Frame{Codec: CodecAV1, Packet: PacketMPEG2TSSequenceStart, SequenceHeader: true, Enhanced: true}, cat(0x80, 0x04, "AV01")},
		// §1.3: av01 CodedFrames carry no CTS: the OBU bytes must not be read as one.
		{"AV1 keyframe (no CTS field)", cat(exVideo(1, 1), "av01", av1TU), Frame{Codec: CodecAV1, Packet: cf, Keyframe: true, Enhanced: true}, av1TU},
		{"AV1 inter", cat(exVideo(2, 1), "av01", av1TU), Frame{Codec: CodecAV1, Packet: cf, Enhanced: true}, av1TU},
		{"VP9 keyframe (no CTS field)", cat(exVideo(1, 1), "vp09", vp9Key), Frame{Codec: CodecVP9, Packet: cf, Keyframe: true, Enhanced: true}, vp9Key},
		{"VP8 inter", cat(exVideo(2, 1), "vp08", 0x31, 0x02), Frame{Codec: CodecVP8, Packet: cf, Enhanced: true}, []byte{0x31, 0x02}},
		// §1.5: Metadata; its FrameType must be ignored (OBS writes 0, ffmpeg 5).
		{"Metadata colorInfo frameType 0 (OBS)", cat(exVideo(0, 4), "hvc1", colorInfo), Frame{Codec: CodecHEVC, Packet: meta, Enhanced: true}, colorInfo},
		{"Metadata colorInfo frameType 5 (ffmpeg)", cat(exVideo(5, 4), "hvc1", colorInfo), Frame{Codec: CodecHEVC, Packet: meta, Enhanced: true}, colorInfo},
		{"Metadata on a keyframe is not a keyframe", cat(exVideo(1, 4), "av01", colorInfo), Frame{Codec: CodecAV1, Packet: meta, Enhanced: true}, colorInfo},
		// §1.1: command frames carry one UI8 and no FourCC: never a keyframe.
		{"Enhanced command frame StartSeek", cat(exVideo(5, 0), 0x00), Frame{Packet: cmd, Enhanced: true}, nil},
		{"Enhanced command frame EndSeek, packet type 1", cat(exVideo(5, 1), 0x01), Frame{Packet: cmd, Enhanced: true}, nil},
		{"legacy AVC command frame 57 00", cat(0x57, 0x00), Frame{Codec: CodecAVC, Packet: cmd}, nil},
		{"legacy AVC command frame 57 01", cat(0x57, 0x01), Frame{Codec: CodecAVC, Packet: cmd}, nil},
		{"legacy H.263 command frame 52 00", cat(0x52, 0x00), Frame{Packet: cmd}, nil},
		{"reserved packet type 8", cat(exVideo(1, 8), "hvc1", hevcTrail), Frame{Codec: CodecHEVC, Enhanced: true}, nil},
		// §4: ModEx prefix (TimestampOffsetNano) before the real packet type.
		{"ModEx then HEVC CodedFrames keyframe", cat(exVideo(1, 7), modExNano, 0x01, "hvc1", 0, 0, 40, hevcIDR), Frame{Codec: CodecHEVC, Packet: cf, Keyframe: true, Enhanced: true, CTS: 40, NanoOffset: 500}, hevcIDR},
		{"ModEx 16-bit size then AV1 SequenceStart", cat(exVideo(1, 7), 0xFF, 0x00, 0x03, 0x00, 0x01, 0xF4, 0x00, 0x00, "av01", av1C), Frame{Codec: CodecAV1, Packet: seq, SequenceHeader: true, Enhanced: true, NanoOffset: 500}, av1C},
		{"two ModEx blocks then CodedFramesX", cat(exVideo(1, 7), modExNano, 0x07, 0x02, 0x0F, 0x42, 0x3F, 0x03, "hvc1", hevcIDR), Frame{Codec: CodecHEVC, Packet: cfx, Keyframe: true, Enhanced: true, NanoOffset: 999999}, hevcIDR},
		{"ModEx of another type keeps no offset", cat(exVideo(1, 7), modExNano, 0x13, "hvc1", hevcIDR), Frame{Codec: CodecHEVC, Packet: cfx, Keyframe: true, Enhanced: true}, hevcIDR},
		{"ModEx then command frame", cat(exVideo(5, 7), modExNano, 0x00, 0x00), Frame{Packet: cmd, Enhanced: true, NanoOffset: 500}, nil},
		// §5: Multitrack.
		{"Multitrack OneTrack HEVC SequenceStart track 1", cat(exVideo(1, 6), 0x00, "hvc1", 1, hvcC), Frame{Codec: CodecHEVC, Packet: seq, SequenceHeader: true, Enhanced: true, Multitrack: OneTrack, Track: 1}, hvcC},
		{"Multitrack OneTrack AV1 keyframe track 1", cat(exVideo(1, 6), 0x01, "av01", 1, av1TU), Frame{Codec: CodecAV1, Packet: cf, Keyframe: true, Enhanced: true, Multitrack: OneTrack, Track: 1}, av1TU},
		{"Multitrack OneTrack avc1 CodedFramesX track 2", cat(exVideo(2, 6), 0x03, "avc1", 2, nalu), Frame{Codec: CodecAVC, Packet: cfx, Enhanced: true, Multitrack: OneTrack, Track: 2}, nalu},
		{"Multitrack ManyTracks AV1 SequenceStart", cat(exVideo(1, 6), 0x10, "av01", 0, 0, 0, 4, av1C, 1, 0, 0, 4, av1C), Frame{Codec: CodecAV1, Packet: seq, SequenceHeader: true, Enhanced: true, Multitrack: ManyTracks}, av1C},
		{"Multitrack ManyTracksManyCodecs keyframe", cat(exVideo(1, 6), 0x21, "av01", 0, 0, 0, 5, av1TU, "vp09", 1, 0, 0, 3, vp9Key), Frame{Codec: CodecAV1, Packet: cf, Keyframe: true, Enhanced: true, Multitrack: ManyTracksManyCodecs}, av1TU},
		{"ModEx then Multitrack OneTrack", cat(exVideo(1, 7), modExNano, 0x06, 0x01, "av01", 3, av1TU), Frame{Codec: CodecAV1, Packet: cf, Keyframe: true, Enhanced: true, Multitrack: OneTrack, Track: 3, NanoOffset: 500}, av1TU},
		{"Multitrack reserved layout 3", cat(exVideo(1, 6), 0x31, "av01", 1, av1TU), Frame{Enhanced: true}, nil},
		{"Multitrack nested in multitrack", cat(exVideo(1, 6), 0x06, 0x01, "av01", 1, av1TU), Frame{Enhanced: true}, nil},
		{"Multitrack track size beyond the message", cat(exVideo(1, 6), 0x11, "av01", 0, 0, 0, 9, av1TU), Frame{Codec: CodecAV1, Enhanced: true, Multitrack: ManyTracks}, nil},
	})
}

// The CTS of a multitrack avc1/hvc1/vvc1 CodedFrames packet follows the
// track id (and, unless OneTrack, the UI24 track size): enhanced-rtmp.md
// §1.2 reads the body, which starts with the SI24 CTS, only after them.
func TestParseVideoMultitrackCTS(t *testing.T) {
	checkFrames(t, ParseVideo, []frameCase{
		{"OneTrack hvc1 keyframe track 1 CTS 40", cat(exVideo(1, 6), 0x01, "hvc1", 1, 0, 0, 40, hevcIDR),
			Frame{Codec: CodecHEVC, Packet: PacketCodedFrames, Keyframe: true, Enhanced: true, CTS: 40, Multitrack: OneTrack, Track: 1}, hevcIDR},
		{"OneTrack avc1 inter track 2 CTS 0", cat(exVideo(2, 6), 0x01, "avc1", 2, 0, 0, 0, nalu),
			Frame{Codec: CodecAVC, Packet: PacketCodedFrames, Enhanced: true, Multitrack: OneTrack, Track: 2}, nalu},
		{"ManyTracks hvc1 keyframe CTS 80", cat(exVideo(1, 6), 0x11, "hvc1", 0, 0, 0, 9, 0, 0, 80, hevcIDR, 1, 0, 0, 9, 0, 0, 80, hevcIDR),
			Frame{Codec: CodecHEVC, Packet: PacketCodedFrames, Keyframe: true, Enhanced: true, CTS: 80, Multitrack: ManyTracks}, hevcIDR},
		{"ManyTracksManyCodecs hvc1 then av01", cat(exVideo(2, 6), 0x21, "hvc1", 4, 0, 0, 9, 0xFF, 0xFF, 0xF6, hevcTrail, "av01", 5, 0, 0, 5, av1TU),
			Frame{Codec: CodecHEVC, Packet: PacketCodedFrames, Enhanced: true, CTS: -10, Multitrack: ManyTracksManyCodecs, Track: 4}, hevcTrail},
	})
}

// flv-mp4.md §1.4 (and the Adobe FLV spec it condenses): a FrameType 5
// video tag is a client-side seek command, not media. With CodecID 7 the
// Adobe layout keeps the AVCPacketType and CompositionTime fields in front
// of the command byte; such a tag must not be taken for a sequence header,
// or the hub would hand it to every new player in place of the avcC.
func TestParseVideoLegacyCommandFrameWithAVCHeader(t *testing.T) {
	for _, in := range [][]byte{
		cat(0x57, 0x00, 0, 0, 0, 0x00), // AVCPacketType 0, CTS 0, StartSeek
		cat(0x57, 0x01, 0, 0, 0, 0x01), // AVCPacketType 1, CTS 0, EndSeek
	} {
		if f := ParseVideo(in); f.SequenceHeader || f.Keyframe {
			t.Errorf("ParseVideo(% x) = %+v: a command frame taken for media", in, f)
		}
	}
}

// Inputs cut inside the tag header: never a keyframe or a sequence header.
func TestParseVideoTruncated(t *testing.T) {
	for _, in := range [][]byte{
		nil,
		{0x17},
		{0x17, 0x00},
		{0x17, 0x00, 0x00, 0x00},
		{0x17, 0x01},
		{0x17, 0x01, 0x00, 0x00},
		{0x1C, 0x00, 0x00},
		{exVideo(1, 0)},
		cat(exVideo(1, 0), "hvc"),
		cat(exVideo(1, 1), "hv"),
		cat(exVideo(1, 3), "a"),
		cat(exVideo(1, 5), "av0"),
		{exVideo(1, 7)},
		{exVideo(1, 7), 0x05, 0x00},         // ModEx data shorter than its size
		{exVideo(1, 7), 0xFF, 0x00},         // 16-bit ModEx size cut
		cat(exVideo(1, 7), modExNano),       // no packet type after the ModEx data
		cat(exVideo(1, 7), modExNano, 1),    // no FourCC
		{exVideo(1, 6)},                     // multitrack byte missing
		cat(exVideo(1, 6), 0x01, "hvc"),     // FourCC cut
		cat(exVideo(1, 6), 0x20, "av"),      // ManyTracksManyCodecs, FourCC cut
		{exVideo(5, 0)},                     // command without its byte
		{exVideo(1, 8), 'h', 'v', 'c', '1'}, // reserved packet type
	} {
		f := ParseVideo(in)
		if f.Keyframe || f.SequenceHeader {
			t.Errorf("ParseVideo(% x) = %+v: truncated input taken for a keyframe or header", in, f)
		}
		if len(in) > 0 && in[0]&0x80 != 0 && !f.Enhanced {
			t.Errorf("ParseVideo(% x) = %+v: ExHeader bit set but not Enhanced", in, f)
		}
	}
}

func TestParseAudio(t *testing.T) {
	const (
		seq = PacketSequenceStart
		cf  = PacketCodedFrames
	)
	asc := []byte{0x12, 0x10}
	checkFrames(t, ParseAudio, []frameCase{
		// flv-mp4.md §1.3: legacy AUDIODATA.
		{"AAC sequence header AF 00", cat(0xAF, 0x00, asc), Frame{Codec: CodecAAC, Packet: seq, SequenceHeader: true}, asc},
		{"AAC raw frame AF 01", cat(0xAF, 0x01, 0x21, 0x10, 0x04), Frame{Codec: CodecAAC, Packet: cf}, []byte{0x21, 0x10, 0x04}},
		{"AAC mono 8-bit flags still AAC", cat(0xA0, 0x00, asc), Frame{Codec: CodecAAC, Packet: seq, SequenceHeader: true}, asc},
		{"AAC reserved AACPacketType 2", cat(0xAF, 0x02, 0x21), Frame{Codec: CodecAAC}, nil},
		{"MP3 2F", cat(0x2F, 0xFF, 0xFB, 0x90), Frame{Codec: CodecMP3, Packet: cf}, []byte{0xFF, 0xFB, 0x90}},
		{"MP3 8 kHz EE", cat(0xEE, 0xFF, 0xF3), Frame{Codec: CodecMP3, Packet: cf}, []byte{0xFF, 0xF3}},
		{"Nellymoser", cat(0x6E, 0x00), Frame{Packet: cf}, []byte{0x00}},
		{"G.711 A-law", cat(0x72, 0xD5, 0xD5), Frame{Packet: cf}, []byte{0xD5, 0xD5}},
		{"silence: empty body", nil, Frame{}, nil},

		// enhanced-rtmp.md §3: ExAudioTagHeader, SoundFormat 9.
		{"Opus SequenceStart 0x90 Opus", cat(0x90, "Opus", opusHd), Frame{Codec: CodecOpus, Packet: seq, SequenceHeader: true, Enhanced: true}, opusHd},
		{"Opus empty SequenceStart", cat(0x90, "Opus"), Frame{Codec: CodecOpus, Packet: seq, SequenceHeader: true, Enhanced: true}, empty},
		{"Opus CodedFrames", cat(0x91, "Opus", 0xFC, 0xFF, 0xFE), Frame{Codec: CodecOpus, Packet: cf, Enhanced: true}, []byte{0xFC, 0xFF, 0xFE}},
		{"FLAC SequenceStart", cat(0x90, "fLaC", "fLaC", 0x80, 0, 0, 34), Frame{Codec: CodecFLAC, Packet: seq, SequenceHeader: true, Enhanced: true}, cat("fLaC", 0x80, 0, 0, 34)},
		{"mp4a SequenceStart", cat(0x90, "mp4a", asc), Frame{Codec: CodecAAC, Packet: seq, SequenceHeader: true, Enhanced: true}, asc},
		{".mp3 CodedFrames", cat(0x91, ".mp3", 0xFF, 0xFB), Frame{Codec: CodecMP3, Packet: cf, Enhanced: true}, []byte{0xFF, 0xFB}},
		{"ac-3 CodedFrames", cat(0x91, "ac-3", 0x0B, 0x77), Frame{Codec: CodecAC3, Packet: cf, Enhanced: true}, []byte{0x0B, 0x77}},
		{"ec-3 CodedFrames", cat(0x91, "ec-3", 0x0B, 0x77), Frame{Codec: CodecEAC3, Packet: cf, Enhanced: true}, []byte{0x0B, 0x77}},
		{"SequenceEnd", cat(0x92, "Opus"), Frame{Codec: CodecOpus, Packet: PacketSequenceEnd, Enhanced: true}, empty},
		{"MultichannelConfig", cat(0x94, "Opus", 0x01, 0x06, 0, 0, 0, 0x3F), Frame{Codec: CodecOpus, Packet: PacketMultichannelConfig, Enhanced: true}, []byte{0x01, 0x06, 0, 0, 0, 0x3F}},
		{"reserved packet type 3", cat(0x93, "Opus", 0xFC), Frame{Codec: CodecOpus, Enhanced: true}, nil},
		{"ModEx then Opus CodedFrames", cat(0x97, modExNano, 0x01, "Opus", 0xFC), Frame{Codec: CodecOpus, Packet: cf, Enhanced: true, NanoOffset: 500}, []byte{0xFC}},
		{"Multitrack OneTrack mp4a SequenceStart track 1", cat(0x95, 0x00, "mp4a", 1, asc), Frame{Codec: CodecAAC, Packet: seq, SequenceHeader: true, Enhanced: true, Multitrack: OneTrack, Track: 1}, asc},
		{"Multitrack ManyTracks Opus CodedFrames", cat(0x95, 0x11, "Opus", 0, 0, 0, 1, 0xFC, 1, 0, 0, 1, 0xFC), Frame{Codec: CodecOpus, Packet: cf, Enhanced: true, Multitrack: ManyTracks}, []byte{0xFC}},
		{"Multitrack ManyTracksManyCodecs mp4a then Opus", cat(0x95, 0x21, "mp4a", 2, 0, 0, 2, 0x21, 0x10, "Opus", 3, 0, 0, 1, 0xFC), Frame{Codec: CodecAAC, Packet: cf, Enhanced: true, Multitrack: ManyTracksManyCodecs, Track: 2}, []byte{0x21, 0x10}},
	})
}

func TestParseAudioTruncated(t *testing.T) {
	for _, in := range [][]byte{
		{0xAF},
		{0x90},
		cat(0x90, "Opu"),
		{0x95},
		cat(0x95, 0x00, "mp4"),
		{0x97},
		{0x97, 0x10},
		cat(0x97, modExNano),
		cat(0x97, modExNano, 0x00, "Op"),
	} {
		if f := ParseAudio(in); f.SequenceHeader || f.Keyframe {
			t.Errorf("ParseAudio(% x) = %+v: truncated input taken for a header", in, f)
		}
	}
}

// Message.Parse dispatches on Kind, and keyframes are a video notion.
func TestMessageParseByKind(t *testing.T) {
	key := cat(0x17, 0x01, 0, 0, 0, nalu)
	if m := NewMessage(KindVideo, 0, key); !m.IsKeyframe() || m.IsSequenceHeader() {
		t.Errorf("video keyframe: %+v", m.Frame)
	}
	if m := NewMessage(KindAudio, 0, key); m.IsKeyframe() {
		t.Errorf("audio message with video bytes is a keyframe: %+v", m.Frame)
	}
	if m := NewMessage(KindData, 0, key); m.IsKeyframe() || m.IsSequenceHeader() || m.Frame != (Frame{}) {
		t.Errorf("data message parsed as media: %+v", m.Frame)
	}
	if m := NewMessage(KindAudio, 0, cat(0xAF, 0x00, 0x12, 0x10)); !m.IsSequenceHeader() {
		t.Errorf("AAC sequence header: %+v", m.Frame)
	}
	if m := NewMessage(KindData, 0, cat(0xAF, 0x00, 0x12, 0x10)); m.IsSequenceHeader() {
		t.Error("data message is a sequence header")
	}
}

func TestFourCCString(t *testing.T) {
	for f, want := range map[FourCC]string{
		CodecHEVC: "hvc1", CodecOpus: "Opus", CodecFLAC: "fLaC", CodecMP3: ".mp3",
		0: "none", 0x00010203: "0x00010203",
	} {
		if got := f.String(); got != want {
			t.Errorf("FourCC(%#x).String() = %q, want %q", uint32(f), got, want)
		}
	}
}

func TestMetadataCodecID(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		kind Kind
		want uint32
	}{
		{cat(0x17, 0x00, 0, 0, 0, avcC), KindVideo, 7},
		{cat(0x1C, 0x00, 0, 0, 0, hvcC), KindVideo, 12},
		{cat(exVideo(1, 0), "hvc1", hvcC), KindVideo, 1752589105},
		{cat(exVideo(1, 0), "avc1", avcC), KindVideo, 1635148593},
		{cat(0xAF, 0x00, 0x12, 0x10), KindAudio, 10},
		{cat(0x2F, 0xFF, 0xFB), KindAudio, 2},
		{cat(0x90, "Opus", opusHd), KindAudio, 1332770163},
		{cat(0x24, 0x00, 0x00), KindVideo, 0}, // VP6: no FourCC here
	} {
		if got := NewMessage(tc.kind, 0, tc.in).Frame.MetadataCodecID(); got != tc.want {
			t.Errorf("% x: %d, want %d", tc.in, got, tc.want)
		}
	}
}

// BenchmarkMessageParse is the per-message cost of parsing the tag header
// at ingest (Message.Parse), for the common header forms.
func BenchmarkMessageParse(b *testing.B) {
	frame := make([]byte, 1000)
	for _, c := range []struct {
		name string
		kind Kind
		body []byte
	}{
		{"legacy-avc", KindVideo, cat(0x27, 0x01, 0, 0, 40, frame)},
		{"ex-hevc", KindVideo, cat(exVideo(2, 1), "hvc1", 0, 0, 40, frame)},
		{"ex-modex-multitrack-av1", KindVideo, cat(exVideo(2, 7), modExNano, 0x06, 0x01, "av01", 1, frame)},
		{"aac", KindAudio, cat(0xAF, 0x01, 0x21, 0x10)},
	} {
		m := &Message{Kind: c.kind, Payload: c.body}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Parse()
			}
			if m.Frame.Packet != PacketCodedFrames {
				b.Fatalf("parsed %+v", m.Frame)
			}
		})
	}
}

func TestIsMetadata(t *testing.T) {
	meta := cat(0x02, 0x00, 0x0A, "onMetaData", 0x08, 0, 0, 0, 0, 0, 0, 9)
	for _, tc := range []struct {
		kind Kind
		body []byte
		want bool
	}{
		{KindData, meta, true},
		{KindVideo, meta, false},
		{KindData, cat(0x02, 0x00, 0x0A, "onCuePoint", 0x05), false},
		{KindData, cat(0x02, 0x00, 0x0D, "@setDataFrame", meta), false}, // cut at ingest, not here
		{KindData, meta[:10], false},
	} {
		if got := NewMessage(tc.kind, 0, tc.body).IsMetadata(); got != tc.want {
			t.Errorf("%v % x: IsMetadata %v", tc.kind, tc.body, got)
		}
	}
}
