package remux

import "testing"

// Frames written from the codec specifications: the first bytes that
// carry the random access signal, and the tag headers publishers put in
// front of them.
var (
	// H.265 §7.4.2.2: nal_unit_type in bits 1..6 of the first header byte.
	hevcCRA   = []byte{0, 0, 0, 3, 0x2A, 0x01, 0xAF} // CRA_NUT 21
	hevcBLA   = []byte{0, 0, 0, 3, 0x20, 0x01, 0xAF} // BLA_W_LP 16
	hevcRASL  = []byte{0, 0, 0, 3, 0x10, 0x01, 0xAF} // RASL_R 8
	hevcRsv24 = []byte{0, 0, 0, 3, 0x30, 0x01, 0xAF} // RSV_IRAP_VCL23 is 23; 24 is not IRAP
	// An access unit as x265 writes it: VPS, SPS, PPS, SEI, then the IDR slice.
	hevcAU = []byte{0, 0, 0, 2, 0x40, 0x01, 0, 0, 0, 2, 0x42, 0x01, 0, 0, 0, 2, 0x44, 0x01,
		0, 0, 0, 2, 0x4E, 0x01, 0, 0, 0, 3, 0x26, 0x01, 0xAF}
	// AV1 §5.3.1 OBU header (type in bits 3..6, has_size_field 0x02), §5.5
	// sequence header (seq_profile 0, still_picture 0,
	// reduced_still_picture_header 0), §5.9.2 uncompressed header
	// (show_existing_frame 0, frame_type 2 bits: 0 KEY_FRAME, 1 INTER).
	av1TD      = []byte{0x12, 0x00}
	av1Seq     = []byte{0x0A, 0x03, 0x00, 0x00, 0x00}
	av1SeqStil = []byte{0x0A, 0x03, 0x18, 0x00, 0x00} // still_picture 1, reduced_still_picture_header 1
	av1Key     = []byte{0x32, 0x02, 0x10, 0x00}       // OBU_FRAME, KEY_FRAME, show_frame 1
	av1Inter   = []byte{0x32, 0x02, 0x30, 0x00}       // OBU_FRAME, INTER_FRAME
	av1KeyHdr  = []byte{0x1A, 0x01, 0x10}             // OBU_FRAME_HEADER, KEY_FRAME
	// VP9 §6.2: frame_marker 2, profile 0, show_existing_frame 0,
	// frame_type 0 (KEY_FRAME), show_frame 1, error_resilient 0, then the
	// sync code 0x49 0x83 0x42 — 0x82 49 83 42 starts every libvpx keyframe.
	vp9Key      = []byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x0A}
	vp9Inter    = []byte{0x86, 0x00, 0x40, 0x92}
	vp9Shown    = []byte{0x88}                         // show_existing_frame 1
	vp9Profile3 = []byte{0xB1, 0x24, 0xC1, 0xA1, 0x00} // profile 3 (reserved bit), key, sync code shifted one bit
	vp9BadSync  = []byte{0x82, 0x49, 0x83, 0x43}
	// H.264 §7.4.1: nal_unit_type in the low 5 bits; SPS 7, PPS 8, IDR 5, non-IDR 1.
	avcIDRAU  = []byte{0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 2, 0x68, 0xCE, 0, 0, 0, 3, 0x65, 0x88, 0x84}
	avcNonIDR = []byte{0, 0, 0, 3, 0x41, 0x9A, 0x02}
)

func TestCodecKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		codec      FourCC
		data       []byte
		key, known bool
	}{
		{"hevc IDR_W_RADL", CodecHEVC, hevcIDR, true, true},
		{"hevc CRA", CodecHEVC, hevcCRA, true, true},
		{"hevc BLA", CodecHEVC, hevcBLA, true, true},
		{"hevc TRAIL_R", CodecHEVC, hevcTrail, false, true},
		{"hevc RASL", CodecHEVC, hevcRASL, false, true},
		{"hevc type 24", CodecHEVC, hevcRsv24, false, true},
		{"hevc parameter sets then IDR", CodecHEVC, hevcAU, true, true},
		{"hevc lengths do not add up", CodecHEVC, []byte{0, 0, 0, 9, 0x26, 0x01}, false, false},
		{"hevc empty", CodecHEVC, nil, false, false},
		{"av1 sequence header + key frame", CodecAV1, cat(av1TD, av1Seq, av1Key), true, true},
		{"av1 key frame header + sequence header", CodecAV1, cat(av1TD, av1Seq, av1KeyHdr), true, true},
		{"av1 key frame without sequence header", CodecAV1, cat(av1TD, av1Key), false, true},
		{"av1 inter frame", CodecAV1, cat(av1TD, av1Inter), false, true},
		{"av1 reduced still picture", CodecAV1, cat(av1SeqStil, []byte{0x32, 0x01, 0xFF}), true, true},
		{"av1 no frame", CodecAV1, cat(av1TD, av1Seq), false, false},
		{"av1 cut OBU", CodecAV1, []byte{0x0A, 0x09, 0x00}, false, false},
		{"vp9 key frame", CodecVP9, vp9Key, true, true},
		{"vp9 inter frame", CodecVP9, vp9Inter, false, true},
		{"vp9 show existing frame", CodecVP9, vp9Shown, false, true},
		{"vp9 profile 3 key frame", CodecVP9, vp9Profile3, true, true},
		{"vp9 bad sync code", CodecVP9, vp9BadSync, false, false},
		{"vp9 bad frame marker", CodecVP9, []byte{0x42, 0x49, 0x83, 0x42}, false, false},
		{"avc keeps its frame type", CodecAVC, nalu, false, false},
	} {
		key, known := codecKeyframe(tc.codec, tc.data)
		if key != tc.key || known != tc.known {
			t.Errorf("%s: codecKeyframe = %v, %v; want %v, %v", tc.name, key, known, tc.key, tc.known)
		}
	}
}

// The keyframe a consumer sees is the codec's: gortmplib writes
// VideoFrameType 0 on every Enhanced RTMP frame, and a publisher may mark
// an inter frame as key.
func TestParseVideoCodecKeyframe(t *testing.T) {
	cf, cfx := PacketCodedFrames, PacketCodedFramesX
	checkFrames(t, ParseVideo, []frameCase{
		{"gortmplib hvc1 CodedFramesX IDR, frame type 0", cat(exVideo(0, 3), "hvc1", hevcAU), Frame{Codec: CodecHEVC, Packet: cfx, Keyframe: true, Enhanced: true}, hevcAU},
		{"gortmplib hvc1 CodedFrames TRAIL, frame type 0", cat(exVideo(0, 1), "hvc1", 0, 0, 40, hevcTrail), Frame{Codec: CodecHEVC, Packet: cf, Enhanced: true, CTS: 40}, hevcTrail},
		{"hvc1 marked key without an IRAP", cat(exVideo(1, 3), "hvc1", hevcTrail), Frame{Codec: CodecHEVC, Packet: cfx, Enhanced: true}, hevcTrail},
		{"gortmplib av01 key, frame type 0", cat(exVideo(0, 3), "av01", av1TD, av1Seq, av1Key), Frame{Codec: CodecAV1, Packet: cfx, Keyframe: true, Enhanced: true}, cat(av1TD, av1Seq, av1Key)},
		{"gortmplib vp09 key, frame type 0", cat(exVideo(0, 3), "vp09", vp9Key), Frame{Codec: CodecVP9, Packet: cfx, Keyframe: true, Enhanced: true}, vp9Key},
		{"vp09 inter marked key", cat(exVideo(1, 1), "vp09", vp9Inter), Frame{Codec: CodecVP9, Packet: cf, Enhanced: true}, vp9Inter},
		{"legacy CodecID 12 IDR marked inter", cat(0x2C, 0x01, 0, 0, 0, hevcIDR), Frame{Codec: CodecHEVC, Packet: cf, Keyframe: true}, hevcIDR},
		// avc1 keeps its frame type (open GOP: recovery-point I-frames
		// marked key), unless the tag has none (0, as gortmplib writes).
		{"gortmplib avc1 CodedFrames SPS+IDR, frame type 0", cat(exVideo(0, 1), "avc1", 0, 0, 0, avcIDRAU), Frame{Codec: CodecAVC, Packet: cf, Keyframe: true, Enhanced: true}, avcIDRAU},
		{"gortmplib avc1 CodedFramesX non-IDR, frame type 0", cat(exVideo(0, 3), "avc1", avcNonIDR), Frame{Codec: CodecAVC, Packet: cfx, Enhanced: true}, avcNonIDR},
		{"gortmplib Multitrack avc1 track 1 IDR, frame type 0", cat(exVideo(0, 6), 0x03, "avc1", 1, avcIDRAU), Frame{Codec: CodecAVC, Packet: cfx, Keyframe: true, Enhanced: true, Multitrack: OneTrack, Track: 1}, avcIDRAU},
		{"avc1 non-IDR marked key (open GOP)", cat(exVideo(1, 3), "avc1", avcNonIDR), Frame{Codec: CodecAVC, Packet: cfx, Keyframe: true, Enhanced: true}, avcNonIDR},
	})
}

// FuzzCodecKeyframe: no input panics, and a keyframe is always a parsed one.
func FuzzCodecKeyframe(f *testing.F) {
	for _, s := range [][]byte{hevcAU, hevcIDR, cat(av1TD, av1Seq, av1Key), vp9Key, vp9Profile3} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []FourCC{CodecHEVC, CodecAV1, CodecVP9} {
			if key, known := codecKeyframe(c, b); key && !known {
				t.Fatalf("%v: key but not known", c)
			}
		}
		if key, known := avcKeyframe(b); key && !known {
			t.Fatal("avc: key but not known")
		}
	})
}
