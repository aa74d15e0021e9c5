package remux

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// unhex decodes the test vectors below; a typo in one makes it nil, which
// no test expects.
func unhex(s string) []byte { b, _ := hex.DecodeString(s); return b }

// Parameter sets libx264 and libx265 (ffmpeg 5.1) wrote for testsrc2 at
// the sizes and pixel formats named: real encoder output, so the tests run
// without ffmpeg.
var (
	h264SPS320   = unhex("6764000dacd94141fb011000000300100000030320f1429960")     // High, 4:2:0 8-bit, 320x240
	h264SPS1080  = unhex("67640028acd940780227e5c044000003000400000300c83c60c658") // High, 1920x1088 cropped to 1080
	h264SPS42210 = unhex("677a000ab6cd94426c0440000003004000000c83c4896580")       // High 4:2:2 (122), 10-bit, 64x64
	h264PPS      = []byte{0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0}

	h265VPS320   = unhex("40010c01ffff01600000030090000003000003003c959809")
	h265SPS320   = unhex("42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210")
	h265SPS1080  = unhex("420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84")
	h265SPS42210 = unhex("4201010408000003009d0800000300001eb0208104d96566924caf016808000003000800000300c840")
	h265PPS      = unhex("4401c172b46240")
)

func TestParseAVCRecordSPS(t *testing.T) {
	tests := []struct {
		name             string
		sps              []byte
		w, h             int
		profile, level   uint8
		chroma, bdl, bdc uint32
		recTail          []byte // the High profile extension of the record
	}{
		{"320x240 High 4:2:0", h264SPS320, 320, 240, 100, 13, 1, 0, 0, []byte{0xFD, 0xF8, 0xF8, 0}},
		{"1080p cropped", h264SPS1080, 1920, 1080, 100, 40, 1, 0, 0, []byte{0xFD, 0xF8, 0xF8, 0}},
		{"64x64 High 4:2:2 10-bit", h264SPS42210, 64, 64, 122, 10, 2, 2, 2, []byte{0xFE, 0xFA, 0xFA, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var scratch []byte
			rec, ok := AppendAVCRecord(nil, [][]byte{tc.sps}, [][]byte{h264PPS}, 4, &scratch)
			if !ok {
				t.Fatal("AppendAVCRecord refused the parameter sets")
			}
			if got := rec[len(rec)-4:]; !bytes.Equal(got, tc.recTail) {
				t.Errorf("record chroma/bit depth bytes % x, want % x", got, tc.recTail)
			}
			if !bytes.Equal(AVCRecordSPS(rec), tc.sps) || !bytes.Equal(AVCRecordPPS(rec), h264PPS) || AVCRecordNALLength(rec) != 4 {
				t.Errorf("AVCRecordSPS = % x, PPS % x, NAL length %d", AVCRecordSPS(rec), AVCRecordPPS(rec), AVCRecordNALLength(rec))
			}
			s, err := ParseAVCRecordSPS(rec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Width() != tc.w || s.Height() != tc.h || s.ProfileIdc != tc.profile || s.LevelIdc != tc.level ||
				s.ChromaFormatIdc != tc.chroma || s.BitDepthLumaMinus8 != tc.bdl || s.BitDepthChromaMinus8 != tc.bdc {
				t.Errorf("%dx%d profile %d level %d chroma %d depth %d/%d", s.Width(), s.Height(), s.ProfileIdc,
					s.LevelIdc, s.ChromaFormatIdc, s.BitDepthLumaMinus8, s.BitDepthChromaMinus8)
			}
		})
	}
	for _, rec := range [][]byte{nil, {1, 100, 0, 13, 0xFF, 0xE0, 0}, {1, 100, 0, 13, 0xFF, 0xE1, 0, 9, 0x67}, {2, 0, 0, 0, 0, 0xE1, 0, 1, 0x67}} {
		if _, err := ParseAVCRecordSPS(rec); err == nil {
			t.Errorf("ParseAVCRecordSPS(% x) accepted", rec)
		}
	}
	// 2-byte NAL lengths; an SPS and no PPS; a PPS longer than the record.
	rec, _ := AppendAVCRecord(nil, [][]byte{h264SPS320}, [][]byte{h264PPS}, 2, new([]byte))
	if AVCRecordNALLength(rec) != 2 {
		t.Errorf("NAL length %d, want 2", AVCRecordNALLength(rec))
	}
	spsEnd := 8 + len(h264SPS320)
	spsOnly := append(rec[:spsEnd:spsEnd], 0)
	if AVCRecordPPS(spsOnly) != nil || AVCRecordPPS(rec[:spsEnd+3+len(h264PPS)-1]) != nil || AVCRecordNALLength([]byte{1, 2, 3}) != 0 {
		t.Error("AVCRecordPPS/AVCRecordNALLength accepted a malformed record")
	}
}

func TestParseHEVCRecordSPS(t *testing.T) {
	tests := []struct {
		name           string
		sps            []byte
		w, h           int
		profile, level uint8
		chroma, bd     byte // the record's chromaFormat and bit depth bytes
	}{
		{"320x240 Main", h265SPS320, 320, 240, 1, 60, 0xFD, 0xF8},
		{"1080p cropped", h265SPS1080, 1920, 1080, 1, 120, 0xFD, 0xF8},
		{"64x64 Main 4:2:2 10", h265SPS42210, 64, 64, 4, 30, 0xFE, 0xFA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var scratch []byte
			rec, ok := AppendHEVCRecord(nil, [][]byte{h265VPS320}, [][]byte{tc.sps}, [][]byte{h265PPS}, 4, &scratch)
			if !ok {
				t.Fatal("AppendHEVCRecord refused the parameter sets")
			}
			// hvcC: general_profile_idc in byte 1, level in 12, chromaFormat 16, bit depths 17 and 18.
			if rec[1]&0x1F != tc.profile || rec[12] != tc.level || rec[16] != tc.chroma || rec[17] != tc.bd || rec[18] != tc.bd {
				t.Errorf("record % x", rec[:23])
			}
			if rec[21] != 1<<3|1<<2|3 || HEVCRecordNALLength(rec) != 4 { // one temporal layer, nested, 4-byte lengths
				t.Errorf("record byte 21 = %#x", rec[21])
			}
			for typ, want := range map[byte][]byte{HEVCNALVPS: h265VPS320, HEVCNALSPS: tc.sps, HEVCNALPPS: h265PPS} {
				if got := HEVCRecordNALU(rec, typ); !bytes.Equal(got, want) {
					t.Errorf("HEVCRecordNALU(%d) = % x", typ, got)
				}
			}
			s, err := ParseHEVCRecordSPS(rec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Width() != tc.w || s.Height() != tc.h || s.ProfileTierLevel.GeneralProfileIdc != tc.profile ||
				s.ProfileTierLevel.GeneralLevelIdc != tc.level {
				t.Errorf("%dx%d profile %d level %d", s.Width(), s.Height(), s.ProfileTierLevel.GeneralProfileIdc,
					s.ProfileTierLevel.GeneralLevelIdc)
			}
		})
	}
	if _, err := ParseHEVCRecordSPS(make([]byte, 23)); err == nil {
		t.Error("a record without arrays accepted")
	}
}

// Rebuilding a record from unchanged parameter sets (every keyframe of an
// in-band stream) parses nothing and allocates nothing; a changed SPS is
// parsed again.
func TestAppendRecordSPSCache(t *testing.T) {
	var scratch []byte
	b := make([]byte, 0, 512)
	avc := func(sps []byte) []byte {
		rec, _ := AppendAVCRecord(b[:0], [][]byte{sps}, [][]byte{h264PPS}, 4, &scratch)
		return rec
	}
	hevc := func(sps []byte) []byte {
		rec, _ := AppendHEVCRecord(b[:0], [][]byte{h265VPS320}, [][]byte{sps}, [][]byte{h265PPS}, 4, &scratch)
		return rec
	}
	avc(h264SPS42210)
	if n := testing.AllocsPerRun(50, func() { avc(h264SPS42210) }); n != 0 {
		t.Errorf("AVC: %v allocations per unchanged record", n)
	}
	hevc(h265SPS42210)
	if n := testing.AllocsPerRun(50, func() { hevc(h265SPS42210) }); n != 0 {
		t.Errorf("HEVC: %v allocations per unchanged record", n)
	}
	// Alternating parameter sets through one scratch give what a fresh one gives.
	for _, sps := range [][]byte{h264SPS320, h264SPS42210, h264SPS1080, h264SPS42210} {
		var fresh []byte
		want, _ := AppendAVCRecord(nil, [][]byte{sps}, [][]byte{h264PPS}, 4, &fresh)
		if got := avc(sps); !bytes.Equal(got, want) {
			t.Errorf("AVC record with a reused scratch\n% x\nwant\n% x", got, want)
		}
	}
	for _, sps := range [][]byte{h265SPS320, h265SPS42210, h265SPS1080, h265SPS42210} {
		var fresh []byte
		want, _ := AppendHEVCRecord(nil, [][]byte{h265VPS320}, [][]byte{sps}, [][]byte{h265PPS}, 4, &fresh)
		if got := hevc(sps); !bytes.Equal(got, want) {
			t.Errorf("HEVC record with a reused scratch\n% x\nwant\n% x", got, want)
		}
	}
}

// FuzzAppendRecord: any bytes as SPS: no panic, and the cached answer is
// always the fresh one.
func FuzzAppendRecord(f *testing.F) {
	for _, s := range [][]byte{h264SPS320, h264SPS1080, h264SPS42210, h265SPS320, h265SPS1080, h265SPS42210, h264SPS42210[:9], h265SPS42210[:20]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sps []byte) {
		var scratch []byte
		for range 2 {
			avc, okA := AppendAVCRecord(nil, [][]byte{sps}, [][]byte{h264PPS}, 4, &scratch)
			var fresh []byte
			want, _ := AppendAVCRecord(nil, [][]byte{sps}, [][]byte{h264PPS}, 4, &fresh)
			if !bytes.Equal(avc, want) {
				t.Fatalf("AVC record differs with a reused scratch")
			}
			if okA {
				ParseAVCRecordSPS(avc)
			}
			hevc, okH := AppendHEVCRecord(nil, [][]byte{h265VPS320}, [][]byte{sps}, [][]byte{h265PPS}, 4, &scratch)
			fresh = nil
			want, _ = AppendHEVCRecord(nil, [][]byte{h265VPS320}, [][]byte{sps}, [][]byte{h265PPS}, 4, &fresh)
			if !bytes.Equal(hevc, want) {
				t.Fatalf("HEVC record differs with a reused scratch")
			}
			if okH {
				ParseHEVCRecordSPS(hevc)
			}
		}
		// The bytes as a record: found parameter sets lie inside it.
		ParseAVCRecordSPS(sps)
		ParseHEVCRecordSPS(sps)
		for _, nal := range [][]byte{AVCRecordSPS(sps), AVCRecordPPS(sps), HEVCRecordNALU(sps, HEVCNALSPS)} {
			if len(nal) > len(sps) {
				t.Fatalf("a NAL unit of %d bytes in a %d-byte record", len(nal), len(sps))
			}
		}
		if n := AVCRecordNALLength(sps); n > 4 {
			t.Fatalf("NAL length %d", n)
		}
	})
}
