package remux

import (
	"bytes"
	"reflect"
	"testing"
)

// What libvpx-vp9 (ffmpeg 5.1, -deadline realtime) wrote for testsrc2:
// 320x240 8-bit 4:2:0 and 352x288 10-bit 4:2:2 (-pix_fmt yuv422p10le). The
// records are the MP4 vpcC boxes' content after version and flags (the form
// Enhanced RTMP carries); the frames are the first bytes of each first
// keyframe of an IVF.
var (
	vpcC420     = unhex("0014820202020000")
	vpcC42210   = unhex("0314a40202020000")
	vp9Key420   = unhex("824983420013f00ef60638241c184a000d405fcdf7fbfd1f")
	vp9Key42210 = unhex("b124c1a10200af808fb031c120e0c2c00073005fcdf43f9b")
)

func TestParseVP9Config(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		want VP9Config
	}{
		{"libvpx 4:2:0 8-bit", vpcC420, VP9Config{Level: 20, BitDepth: 8, ChromaSubsampling: 1,
			ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2, CodecInitData: []byte{}}},
		{"libvpx 4:2:2 10-bit (profile 3)", vpcC42210, VP9Config{Profile: 3, Level: 20, BitDepth: 10, ChromaSubsampling: 2,
			ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2, CodecInitData: []byte{}}},
		// BT.709 full range 4:4:4 12-bit, level 3.1, two bytes of init data.
		{"all fields", []byte{2, 31, 12<<4 | 3<<1 | 1, 1, 1, 1, 0, 2, 0xAB, 0xCD}, VP9Config{Profile: 2, Level: 31, BitDepth: 12,
			ChromaSubsampling: 3, FullRange: true, ColourPrimaries: 1, TransferCharacteristics: 1, MatrixCoefficients: 1,
			CodecInitData: []byte{0xAB, 0xCD}}},
		// gortmplib sends the vpcC box content: version 1, flags 0, then
		// the record (level 4.0, 8-bit 4:2:0 colocated, BT.709).
		{"vpcC with version and flags (gortmplib)", []byte{1, 0, 0, 0, 0, 0x28, 8<<4 | 1<<1, 2, 2, 2, 0, 0}, VP9Config{Level: 40, BitDepth: 8,
			ChromaSubsampling: 1, ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2, CodecInitData: []byte{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVP9Config(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, rec := range [][]byte{nil, vpcC420[:7], {0, 10, 9 << 4, 2, 2, 2, 0, 0}, {0, 10, 8<<4 | 4<<1, 2, 2, 2, 0, 0}, {0, 10, 0x82, 2, 2, 2, 0, 1}} {
		if _, err := ParseVP9Config(rec); err == nil {
			t.Errorf("ParseVP9Config(% x) accepted", rec)
		}
	}
}

func TestParseVP9FrameHeader(t *testing.T) {
	for _, tc := range []struct {
		name       string
		frame      []byte
		profile    uint8
		w, h       int
		depth      uint8
		subX, subY bool
	}{
		{"4:2:0 8-bit keyframe", vp9Key420, 0, 320, 240, 8, true, true},
		{"4:2:2 10-bit keyframe", vp9Key42210, 3, 352, 288, 10, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseVP9FrameHeader(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if h.NonKeyFrame || h.Profile != tc.profile || h.Width() != tc.w || h.Height() != tc.h || h.ColorConfig == nil ||
				h.ColorConfig.BitDepth != tc.depth || h.ColorConfig.SubsamplingX != tc.subX || h.ColorConfig.SubsamplingY != tc.subY {
				t.Errorf("%+v %dx%d colour %+v", h, h.Width(), h.Height(), h.ColorConfig)
			}
		})
	}
	// An inter frame (frame_type 1) has no size in its header.
	inter := bytes.Clone(vp9Key420[:4])
	inter[0] |= 0x04
	if h, err := ParseVP9FrameHeader(inter); err != nil || !h.NonKeyFrame || h.Width() != 0 {
		t.Errorf("inter frame: %+v, %v", h, err)
	}
	for _, b := range [][]byte{nil, {0x02}, vp9Key420[:5], {0x82, 0x49, 0x83, 0x43, 0, 0, 0, 0, 0}} {
		if _, err := ParseVP9FrameHeader(b); err == nil {
			t.Errorf("ParseVP9FrameHeader(% x) accepted", b)
		}
	}
}

func FuzzParseVP9(f *testing.F) {
	for _, s := range [][]byte{vpcC420, vpcC42210, vp9Key420, vp9Key42210, {2, 31, 0xC7, 1, 1, 1, 0, 2, 0xAB, 0xCD}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseVP9Config(b); err == nil {
			if len(c.CodecInitData) > len(b)-8 || c.ChromaSubsampling > 3 {
				t.Fatalf("%+v from % x", c, b)
			}
		}
		if h, err := ParseVP9FrameHeader(b); err == nil && !h.NonKeyFrame && !h.ShowExistingFrame && (h.Width() < 1 || h.Height() < 1) {
			t.Fatalf("keyframe of %dx%d", h.Width(), h.Height())
		}
	})
}

func TestVP9Record(t *testing.T) {
	plain := []byte{0, 0x28, 0x82, 2, 2, 2, 0, 0}
	full := append([]byte{1, 0, 0, 0}, plain...)
	// A plain record of profile 1 whose bytes look like version/flags
	// would not: its codecInitializationDataSize accounts for it.
	profile1 := []byte{1, 0, 0, 0, 0, 0, 0, 4, 0xAA, 0xBB, 0xCC, 0xDD}
	for _, tc := range []struct {
		name     string
		in, want []byte
	}{
		{"ffmpeg: the record", plain, plain},
		{"gortmplib: version, flags, record", full, plain},
		{"record with init data that starts like a FullBox", profile1, profile1},
		{"too short", []byte{1, 0}, []byte{1, 0}},
	} {
		if got := VP9Record(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: VP9Record(% x) = % x, want % x", tc.name, tc.in, got, tc.want)
		}
	}
}
