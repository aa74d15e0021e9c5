package remux

import (
	"bytes"
	"reflect"
	"testing"
)

// av1C records libaom (ffmpeg 5.1, -usage realtime) wrote into MP4 for
// testsrc2 at 320x240: 8-bit 4:2:0, and 10-bit 4:4:4 (-pix_fmt yuv444p10le).
var (
	av1C420   = unhex("81000c000a0b000000043cffbcdaf90040")
	av1C44410 = unhex("812040000a0a200000043cffbcdaf942")
)

func TestParseAV1Config(t *testing.T) {
	tests := []struct {
		name  string
		rec   []byte
		want  AV1Config // without ConfigOBUs
		depth int
		obus  []byte
	}{
		{"libaom 320x240 4:2:0 8-bit", av1C420, AV1Config{ChromaSubsamplingX: true, ChromaSubsamplingY: true}, 8, av1C420[4:]},
		{"libaom 320x240 4:4:4 10-bit", av1C44410, AV1Config{Profile: 1, HighBitDepth: true}, 10, av1C44410[4:]},
		// Every field at a distinct value, laid out bit by bit from §2.3.3:
		// seq_profile 2, seq_level_idx_0 13; tier 1, high_bitdepth 1,
		// twelve_bit 1, monochrome 0, subsampling_x 1, _y 0, position 2;
		// initial_presentation_delay_present 1, minus_one 10.
		{"all fields", []byte{0x81, 2<<5 | 13, 0b1110_1010, 0x1A}, AV1Config{Profile: 2, Level: 13, HighTier: true,
			HighBitDepth: true, TwelveBit: true, ChromaSubsamplingX: true, ChromaSamplePosition: 2, InitialPresentationDelay: 11}, 12, []byte{}},
		{"monochrome", []byte{0x81, 0, 0x10 | 0x0C, 0}, AV1Config{Monochrome: true, ChromaSubsamplingX: true, ChromaSubsamplingY: true}, 8, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAV1Config(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.ConfigOBUs, tc.obus) {
				t.Errorf("ConfigOBUs % x, want % x", got.ConfigOBUs, tc.obus)
			}
			if got.BitDepth() != tc.depth {
				t.Errorf("BitDepth %d, want %d", got.BitDepth(), tc.depth)
			}
			got.ConfigOBUs = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, rec := range [][]byte{nil, {0x81, 0, 0}, {0x01, 0, 0x0C, 0}, {0x82, 0, 0x0C, 0}} {
		if _, err := ParseAV1Config(rec); err == nil {
			t.Errorf("ParseAV1Config(% x) accepted", rec)
		}
	}
}

// The sequence header OBU inside the records says the same as the record,
// and gives the frame size.
func TestParseAV1SequenceHeader(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rec        []byte
		w, h       int
		depth      int
		subX, subY bool
	}{
		{"4:2:0 8-bit", av1C420, 320, 240, 8, true, true},
		{"4:4:4 10-bit", av1C44410, 320, 240, 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := ParseAV1Config(tc.rec)
			// A temporal unit as a keyframe carries it: temporal delimiter first.
			for _, obus := range [][]byte{cfg.ConfigOBUs, append([]byte{0x12, 0x00}, cfg.ConfigOBUs...)} {
				sh, err := ParseAV1SequenceHeader(obus)
				if err != nil {
					t.Fatal(err)
				}
				cc := sh.ColorConfig
				if sh.Width() != tc.w || sh.Height() != tc.h || cc.BitDepth != tc.depth || cc.SubsamplingX != tc.subX ||
					cc.SubsamplingY != tc.subY || cc.MonoChrome || sh.SeqProfile != cfg.Profile ||
					len(sh.SeqLevelIdx) == 0 || sh.SeqLevelIdx[0] != cfg.Level || sh.SeqTier[0] != cfg.HighTier {
					t.Errorf("%dx%d profile %d level %v tier %v colour %+v", sh.Width(), sh.Height(), sh.SeqProfile,
						sh.SeqLevelIdx, sh.SeqTier, cc)
				}
			}
		})
	}
	if _, err := ParseAV1SequenceHeader([]byte{0x12, 0x00}); err == nil {
		t.Error("a temporal delimiter alone parsed as a sequence header")
	}
}

func TestAV1FindOBU(t *testing.T) {
	td := []byte{0x12, 0x00}                                      // temporal delimiter, size 0
	ext := []byte{0x36, 0x08, 0x02, 0xAA, 0xBB}                   // frame OBU with extension header, size 2
	seq := av1C420[4:]                                            // sequence header
	tu := bytes.Join([][]byte{td, ext, seq}, nil)                 // in one temporal unit
	big := append([]byte{0x32, 0x80, 0x01}, make([]byte, 128)...) // frame OBU, 2-byte LEB128 size 128
	for _, tc := range []struct {
		name string
		in   []byte
		typ  uint8
		want []byte
	}{
		{"first", tu, AV1OBUTemporalDelimiter, td},
		{"after an extension header", tu, AV1OBUSequenceHeader, seq},
		{"with extension header", tu, AV1OBUFrame, ext},
		{"two-byte size", append(big, td...), AV1OBUTemporalDelimiter, td},
		{"absent", tu, AV1OBUFrameHeader, nil},
		{"size beyond the data", []byte{0x0A, 0x0B, 0x00}, AV1OBUSequenceHeader, nil},
		{"no size field", []byte{0x08, 0x00}, AV1OBUSequenceHeader, nil},
		{"forbidden bit", []byte{0x8A, 0x00}, AV1OBUSequenceHeader, nil},
		{"LEB128 never ends", []byte{0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, AV1OBUSequenceHeader, nil},
	} {
		if got := AV1FindOBU(tc.in, tc.typ); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: AV1FindOBU = % x, want % x", tc.name, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { AV1FindOBU(tu, AV1OBUSequenceHeader) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParseAV1(f *testing.F) {
	for _, s := range [][]byte{av1C420, av1C44410, {0x81, 0x4D, 0xEA, 0x1A}, append(append([]byte{0x81, 0, 0x0C, 0}, 0x12, 0), av1C420[4:]...)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseAV1Config(b); err == nil {
			if d := c.BitDepth(); d != 8 && d != 10 && d != 12 {
				t.Fatalf("bit depth %d", d)
			}
			ParseAV1SequenceHeader(c.ConfigOBUs)
		}
		for typ := range uint8(16) {
			if obu := AV1FindOBU(b, typ); obu != nil && ((obu[0]>>3)&0x0F != typ || len(obu) > len(b)) {
				t.Fatalf("AV1FindOBU(%d) returned an OBU of type %d", typ, (obu[0]>>3)&0x0F)
			}
		}
		ParseAV1SequenceHeader(b)
	})
}
