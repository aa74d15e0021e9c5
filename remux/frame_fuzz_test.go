package remux

import (
	"bytes"
	"testing"
)

// frameSeeds are tag bodies of every header form the parsers know.
func frameSeeds() [][]byte {
	return [][]byte{
		nil,
		cat(0x17, 0x00, 0, 0, 0, avcC),
		cat(0x17, 0x01, 0, 0, 0, nalu),
		cat(0x27, 0x01, 0xFF, 0xFF, 0xD8, nalu),
		cat(0x1C, 0x00, 0, 0, 0, hvcC),
		cat(0x57, 0x00),
		cat(exVideo(1, 0), "hvc1", hvcC),
		cat(exVideo(1, 1), "hvc1", 0, 0, 40, nalu),
		cat(exVideo(1, 3), "hvc1", nalu),
		cat(exVideo(1, 1), "av01", av1TU),
		cat(exVideo(1, 5), "av01", 0x80),
		cat(exVideo(5, 4), "hvc1", 0x02, 0x00, 0x09, "colorInfo"),
		cat(exVideo(5, 0), 0x00),
		cat(exVideo(1, 7), modExNano, 0x01, "hvc1", 0, 0, 40, nalu),
		cat(exVideo(1, 7), 0xFF, 0x00, 0x03, 0, 0, 1, 0xF4, 0x00, "av01", av1C),
		cat(exVideo(1, 6), 0x01, "hvc1", 1, 0, 0, 40, nalu),
		cat(exVideo(1, 6), 0x21, "av01", 0, 0, 0, 5, av1TU),
		cat(0xAF, 0x00, 0x12, 0x10),
		cat(0xAF, 0x01, 0x21),
		cat(0x2F, 0xFF, 0xFB),
		cat(0x90, "Opus", opusHd),
		cat(0x91, "Opus", 0xFC),
		cat(0x97, modExNano, 0x01, "Opus", 0xFC),
		cat(0x95, 0x00, "mp4a", 1, 0x12, 0x10),
	}
}

func FuzzParseVideo(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		fr := ParseVideo(b)
		if fr.SequenceHeader && fr.Keyframe {
			t.Fatalf("ParseVideo(% x) = %+v: both sequence header and keyframe", b, fr)
		}
		if fr.Enhanced != (len(b) > 0 && b[0]&0x80 != 0) {
			t.Fatalf("ParseVideo(% x) = %+v: Enhanced disagrees with the ExHeader bit", b, fr)
		}
		if fr.CTS != 0 && (len(b) < 5 || fr.SequenceHeader) {
			t.Fatalf("ParseVideo(% x) = %+v: CTS without a coded frame", b, fr)
		}
		if !bytes.Equal(b, in) {
			t.Fatal("ParseVideo modified its input")
		}
		m := NewMessage(KindVideo, 0, b)
		if m.IsKeyframe() != fr.Keyframe || m.IsSequenceHeader() != fr.SequenceHeader {
			t.Fatalf("Message disagrees with ParseVideo: %+v vs %+v", m.Frame, fr)
		}
	})
}

func FuzzParseAudio(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		fr := ParseAudio(b)
		if fr.Keyframe || fr.CTS != 0 {
			t.Fatalf("ParseAudio(% x) = %+v: keyframe or CTS on audio", b, fr)
		}
		if fr.Enhanced != (len(b) > 0 && b[0]>>4 == 9) {
			t.Fatalf("ParseAudio(% x) = %+v: Enhanced disagrees with SoundFormat", b, fr)
		}
		if !bytes.Equal(b, in) {
			t.Fatal("ParseAudio modified its input")
		}
		m := NewMessage(KindAudio, 0, b)
		if m.IsKeyframe() || m.IsSequenceHeader() != fr.SequenceHeader {
			t.Fatalf("Message disagrees with ParseAudio: %+v vs %+v", m.Frame, fr)
		}
	})
}
