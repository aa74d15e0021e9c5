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
		cat(exVideo(1, 7), 0xFF, 0x00, 0x03, 0x00, 0x01, 0xF4, 0x00, 0x00, "av01", av1C),
		cat(exVideo(1, 6), 0x10, "av01", 0, 0, 0, 4, av1C, 1, 0, 0, 4, av1C),
		cat(exVideo(2, 6), 0x21, "hvc1", 4, 0, 0, 9, 0xFF, 0xFF, 0xF6, nalu, "av01", 5, 0, 0, 5, av1TU),
		cat(exVideo(1, 7), modExNano, 0x06, 0x01, "av01", 3, av1TU),
		cat(0x17, 0x02, 0, 0, 0),
		cat(0x12, 0x00, 0x00, 0x84),
		cat(exVideo(1, 6), 0x01, "hvc1", 1, 0, 0, 40, nalu),
		cat(exVideo(1, 6), 0x21, "av01", 0, 0, 0, 5, av1TU),
		cat(0xAF, 0x00, 0x12, 0x10),
		cat(0xAF, 0x01, 0x21),
		cat(0x2F, 0xFF, 0xFB),
		cat(0x90, "Opus", opusHd),
		cat(0x91, "Opus", 0xFC),
		cat(0x97, modExNano, 0x01, "Opus", 0xFC),
		cat(0x95, 0x00, "mp4a", 1, 0x12, 0x10),
		cat(0x95, 0x21, "mp4a", 2, 0, 0, 2, 0x21, 0x10, "Opus", 3, 0, 0, 1, 0xFC),
		cat(0x94, "Opus", 0x01, 0x06, 0, 0, 0, 0x3F),
		cat(0x6E, 0x00),
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
		checkFrameInvariants(t, b, fr)
		if len(b) > 0 && fr.FrameType != (b[0]>>4)&7 {
			t.Fatalf("ParseVideo(% x) = %+v: FrameType is not the first byte's", b, fr)
		}
		if fr.Keyframe && (fr.FrameType != 1 || fr.Packet != PacketCodedFrames && fr.Packet != PacketCodedFramesX) {
			t.Fatalf("ParseVideo(% x) = %+v: a keyframe that is not coded frames", b, fr)
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
		checkFrameInvariants(t, b, fr)
		if fr.Packet == PacketCodedFramesX || fr.Packet == PacketMetadata || fr.Packet == PacketCommand || fr.FrameType != 0 {
			t.Fatalf("ParseAudio(% x) = %+v: a video packet type", b, fr)
		}
		m := NewMessage(KindAudio, 0, b)
		if m.IsKeyframe() || m.IsSequenceHeader() != fr.SequenceHeader {
			t.Fatalf("Message disagrees with ParseAudio: %+v vs %+v", m.Frame, fr)
		}
	})
}

// checkFrameInvariants checks what holds for every Frame either parser returns.
func checkFrameInvariants(t *testing.T, b []byte, fr Frame) {
	t.Helper()
	if fr.Body > fr.BodyEnd || int(fr.BodyEnd) > len(b) {
		t.Fatalf("parse(% x) = %+v: body [%d, %d) outside the %d-byte message", b, fr, fr.Body, fr.BodyEnd, len(b))
	}
	switch fr.Packet {
	case PacketUnknown, PacketCommand:
		if fr.Body != 0 || fr.BodyEnd != 0 || fr.Keyframe || fr.SequenceHeader || fr.CTS != 0 {
			t.Fatalf("parse(% x) = %+v: %v with a body, keyframe, header or CTS", b, fr, fr.Packet)
		}
	case PacketSequenceStart, PacketMPEG2TSSequenceStart:
		if !fr.SequenceHeader {
			t.Fatalf("parse(% x) = %+v: configuration not flagged as a sequence header", b, fr)
		}
	default:
		if fr.SequenceHeader {
			t.Fatalf("parse(% x) = %+v: %v flagged as a sequence header", b, fr, fr.Packet)
		}
	}
	if fr.CTS != 0 && fr.Packet != PacketCodedFrames {
		t.Fatalf("parse(% x) = %+v: CTS outside CodedFrames", b, fr)
	}
	if (fr.Multitrack != NotMultitrack || fr.NanoOffset != 0) && !fr.Enhanced {
		t.Fatalf("parse(% x) = %+v: multitrack or ModEx on a legacy header", b, fr)
	}
	if fr.Multitrack > ManyTracksManyCodecs || fr.NanoOffset > 0xFFFFFF {
		t.Fatalf("parse(% x) = %+v: out-of-range multitrack layout or nano offset", b, fr)
	}
	if d := fr.Data(b); len(d) != int(fr.BodyEnd-fr.Body) {
		t.Fatalf("Data returned %d bytes for body [%d, %d)", len(d), fr.Body, fr.BodyEnd)
	}
	// Every further track lies after the one before, inside the message.
	for kind, prev := range map[Kind]Frame{KindVideo: fr, KindAudio: fr} {
		for n := 0; ; n++ {
			next, ok := prev.NextTrack(kind, b)
			if !ok {
				break
			}
			if next.Body < prev.BodyEnd || next.Body > next.BodyEnd || int(next.BodyEnd) > len(b) || n > len(b) {
				t.Fatalf("track after [%d, %d) at [%d, %d) in %d bytes", prev.Body, prev.BodyEnd, next.Body, next.BodyEnd, len(b))
			}
			if kind == KindAudio && next.CTS != 0 {
				t.Fatalf("audio track with CTS %d", next.CTS)
			}
			prev = next
		}
	}
}
