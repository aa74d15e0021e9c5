package remux

import (
	"bytes"
	"testing"
)

// trackView is what a test expects of one track of a multitrack message.
type trackView struct {
	codec FourCC
	track uint8
	cts   int32
	data  []byte
}

// tracksOf walks every track of a message as a consumer would.
func tracksOf(kind Kind, b []byte) []trackView {
	var out []trackView
	f := NewMessage(kind, 0, b).Frame
	for ok := f.Packet != PacketUnknown; ok; f, ok = f.NextTrack(kind, b) {
		out = append(out, trackView{f.Codec, f.Track, f.CTS, f.Data(b)})
	}
	return out
}

// Messages laid out from enhanced-rtmp.md §5.
func TestNextTrack(t *testing.T) {
	vp9Key := []byte{0x82, 0x49, 0x83}
	tests := []struct {
		name string
		kind Kind
		in   []byte
		want []trackView
	}{
		{"video ManyTracks hvc1, CTS per track", KindVideo,
			cat(exVideo(1, 6), 0x11, "hvc1", 0, 0, 0, 9, 0, 0, 80, nalu, 1, 0, 0, 9, 0xFF, 0xFF, 0xF6, nalu),
			[]trackView{{CodecHEVC, 0, 80, nalu}, {CodecHEVC, 1, -10, nalu}}},
		{"video ManyTracksManyCodecs av01, vp09, hvc1", KindVideo,
			cat(exVideo(1, 6), 0x21, "av01", 0, 0, 0, 5, av1TU, "vp09", 1, 0, 0, 3, vp9Key, "hvc1", 2, 0, 0, 9, 0, 0, 40, nalu),
			[]trackView{{CodecAV1, 0, 0, av1TU}, {CodecVP9, 1, 0, vp9Key}, {CodecHEVC, 2, 40, nalu}}},
		{"video ManyTracks SequenceStart", KindVideo,
			cat(exVideo(1, 6), 0x10, "av01", 0, 0, 0, 4, av1C, 1, 0, 0, 4, av1C),
			[]trackView{{CodecAV1, 0, 0, av1C}, {CodecAV1, 1, 0, av1C}}},
		{"audio ManyTracks Opus", KindAudio,
			cat(0x95, 0x11, "Opus", 0, 0, 0, 1, 0xFC, 1, 0, 0, 2, 0xFC, 0xFD),
			[]trackView{{CodecOpus, 0, 0, []byte{0xFC}}, {CodecOpus, 1, 0, []byte{0xFC, 0xFD}}}},
		{"audio ManyTracksManyCodecs mp4a then Opus", KindAudio,
			cat(0x95, 0x21, "mp4a", 2, 0, 0, 2, 0x21, 0x10, "Opus", 3, 0, 0, 1, 0xFC),
			[]trackView{{CodecAAC, 2, 0, []byte{0x21, 0x10}}, {CodecOpus, 3, 0, []byte{0xFC}}}},
		{"OneTrack has one", KindVideo, cat(exVideo(1, 6), 0x01, "av01", 1, av1TU), []trackView{{CodecAV1, 1, 0, av1TU}}},
		{"not multitrack", KindVideo, cat(0x17, 0x01, 0, 0, 0, nalu), []trackView{{CodecAVC, 0, 0, nalu}}},
		{"second track cut: the first stays", KindVideo,
			cat(exVideo(1, 6), 0x11, "av01", 0, 0, 0, 5, av1TU, 1, 0, 0, 9, av1TU),
			[]trackView{{CodecAV1, 0, 0, av1TU}}},
		{"second track's CTS cut", KindVideo,
			cat(exVideo(1, 6), 0x11, "hvc1", 0, 0, 0, 9, 0, 0, 80, nalu, 1, 0, 0, 2, 0, 0),
			[]trackView{{CodecHEVC, 0, 80, nalu}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tracksOf(tc.kind, tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("%d tracks %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.codec != w.codec || g.track != w.track || g.cts != w.cts || !bytes.Equal(g.data, w.data) {
					t.Errorf("track %d: %v id %d cts %d % x; want %v id %d cts %d % x", i, g.codec, g.track, g.cts, g.data, w.codec, w.track, w.cts, w.data)
				}
			}
		})
	}
}

// The OneTrack headers playback writes, byte for byte as enhanced-rtmp.md
// §5 lays them out, and read back by the parser.
func TestAppendOneTrackHeader(t *testing.T) {
	tests := []struct {
		name           string
		kind           Kind
		codec          FourCC
		track          uint8
		key, seqHeader bool
		cts            int32
		want           []byte
		packet         PacketType
	}{
		{"audio mp4a SequenceStart", KindAudio, CodecAAC, 1, true, true, 0, cat(0x95, 0x00, "mp4a", 1), PacketSequenceStart},
		{"audio Opus CodedFrames", KindAudio, CodecOpus, 2, true, false, 0, cat(0x95, 0x01, "Opus", 2), PacketCodedFrames},
		{"video avc1 SequenceStart", KindVideo, CodecAVC, 1, true, true, 0, cat(0x96, 0x00, "avc1", 1), PacketSequenceStart},
		{"video hvc1 key, CTS 40", KindVideo, CodecHEVC, 1, true, false, 40, cat(0x96, 0x01, "hvc1", 1, 0, 0, 40), PacketCodedFrames},
		{"video avc1 inter, CTS -80", KindVideo, CodecAVC, 2, false, false, -80, cat(0xA6, 0x01, "avc1", 2, 0xFF, 0xFF, 0xB0), PacketCodedFrames},
		{"video av01 inter, no CTS", KindVideo, CodecAV1, 3, false, false, 0, cat(0xA6, 0x01, "av01", 3), PacketCodedFrames},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendOneTrackHeader(nil, tc.kind, tc.codec, tc.track, tc.key, tc.seqHeader, tc.cts)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("% x, want % x", got, tc.want)
			}
			if !tc.seqHeader && len(got) != oneTrackHeaderLen(tc.kind, tc.codec) {
				t.Errorf("oneTrackHeaderLen %d, header is %d bytes", oneTrackHeaderLen(tc.kind, tc.codec), len(got))
			}
			body := append(got, 0xAB, 0xCD)
			f := NewMessage(tc.kind, 0, body).Frame
			if f.Multitrack != OneTrack || f.Track != tc.track || f.Codec != tc.codec || f.Packet != tc.packet || f.CTS != tc.cts ||
				!bytes.Equal(f.Data(body), []byte{0xAB, 0xCD}) {
				t.Errorf("parsed back as %+v", f)
			}
		})
	}
}

// Track 0 of a multitrack message, wherever it is in the message, as the
// legacy tag a player without Enhanced RTMP reads; no track 0 of H.264 or
// AAC, no message.
func TestLegacyTrack0(t *testing.T) {
	aac := []byte{0x21, 0x10, 0x04}
	tests := []struct {
		name string
		kind Kind
		in   []byte
		want []byte // nil: no legacy message
	}{
		{"audio OneTrack mp4a track 0 SequenceStart", KindAudio, cat(0x95, 0x00, "mp4a", 0, 0x12, 0x10), cat(0xAF, 0x00, 0x12, 0x10)},
		{"audio ManyTracks mp4a, track 0 second", KindAudio,
			cat(0x95, 0x11, "mp4a", 1, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 3, aac), cat(0xAF, 0x01, aac)},
		{"audio ManyTracksManyCodecs Opus 0, mp4a 1: no AAC track 0", KindAudio,
			cat(0x95, 0x21, "Opus", 0, 0, 0, 1, 0xFC, "mp4a", 1, 0, 0, 3, aac), nil},
		{"video ManyTracksManyCodecs hvc1 1, avc1 0 key, CTS 40", KindVideo,
			cat(exVideo(1, 6), 0x21, "hvc1", 1, 0, 0, 9, 0, 0, 80, nalu, "avc1", 0, 0, 0, 9, 0, 0, 40, nalu), cat(0x17, 0x01, 0, 0, 40, nalu)},
		{"video OneTrack avc1 track 0 CodedFramesX inter", KindVideo,
			cat(exVideo(2, 6), 0x03, "avc1", 0, nalu), cat(0x27, 0x01, 0, 0, 0, nalu)},
		{"video OneTrack avc1 track 1", KindVideo, cat(exVideo(1, 6), 0x01, "avc1", 1, 0, 0, 0, nalu), nil},
		{"not multitrack", KindAudio, cat(0xAF, 0x01, aac), nil},
	}
	pool := NewPool()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := LegacyTrack0(NewMessage(tc.kind, 7, tc.in), pool)
			if tc.want == nil {
				if n != nil {
					t.Fatalf("got % x, want none", n.Payload)
				}
				return
			}
			if n == nil {
				t.Fatalf("none, want % x", tc.want)
			}
			defer n.Release()
			if !bytes.Equal(n.Payload, tc.want) || n.Timestamp != 7 || n.Kind != tc.kind || n.Frame.Enhanced || n.Frame.Multitrack != NotMultitrack {
				t.Errorf("% x (%+v), want % x", n.Payload, n.Frame, tc.want)
			}
		})
	}
}

// FuzzLegacyTrack0: whatever a publisher sends as a multitrack message,
// what a legacy player gets of it is a legacy tag, or nothing.
func FuzzLegacyTrack0(f *testing.F) {
	f.Add(true, cat(exVideo(1, 6), 0x21, "hvc1", 1, 0, 0, 9, 0, 0, 80, nalu, "avc1", 0, 0, 0, 9, 0, 0, 40, nalu))
	f.Add(false, cat(0x95, 0x11, "mp4a", 1, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 2, 0x21, 0x10))
	pool := NewPool()
	f.Fuzz(func(t *testing.T, video bool, b []byte) {
		kind := KindAudio
		if video {
			kind = KindVideo
		}
		in := bytes.Clone(b)
		n := LegacyTrack0(NewMessage(kind, 0, b), pool)
		if !bytes.Equal(b, in) {
			t.Fatal("LegacyTrack0 modified its input")
		}
		if n == nil {
			return
		}
		defer n.Release()
		if n.Kind != kind || n.Frame.Enhanced || n.Frame.Multitrack != NotMultitrack || n.Frame.Packet == PacketUnknown ||
			(n.Frame.Codec != CodecAVC && n.Frame.Codec != CodecAAC) {
			t.Fatalf("LegacyTrack0(% x) = % x (%+v): not a legacy H.264 or AAC tag", b, n.Payload, n.Frame)
		}
	})
}
