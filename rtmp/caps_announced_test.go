package rtmp

import (
	"errors"
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

func TestCheckAnnounced(t *testing.T) {
	legacy := Caps{}.Takes
	nothing := ParseCaps(nil).Takes
	gortmplib := Caps{Codecs: map[string]uint8{"hvc1": 5, "Opus": 5}}.Takes
	for _, tc := range []struct {
		name         string
		video, audio remux.FourCC
		takes        func(remux.FourCC) bool
		refused      string // substring of the refusal, "" for none
	}{
		{"H.264 + AAC to a legacy player", remux.CodecAVC, remux.CodecAAC, legacy, ""},
		{"MP3, no video", 0, remux.CodecMP3, legacy, ""},
		{"HEVC to a legacy player", remux.CodecHEVC, remux.CodecAAC, legacy, "stream live/cam is H.265; the player did not announce Enhanced RTMP support for hvc1 (fourCcList or videoFourCcInfoMap"},
		{"HEVC to nothing announced", remux.CodecHEVC, 0, nothing, "is H.265"},
		{"HEVC + Opus to gortmplib", remux.CodecHEVC, remux.CodecOpus, gortmplib, ""},
		{"AV1 to gortmplib without av01", remux.CodecAV1, remux.CodecOpus, gortmplib, "is AV1"},
		{"FLAC audio", remux.CodecAVC, remux.CodecFLAC, gortmplib, "is FLAC; the player did not announce Enhanced RTMP support for fLaC (fourCcList or audioFourCcInfoMap"},
	} {
		err := CheckAnnounced("stream live/cam", tc.video, tc.audio, tc.takes)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (!errors.Is(err, ErrCodecNotAnnounced) || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: %v; want ErrCodecNotAnnounced with %q", tc.name, err, tc.refused)
		}
	}
}

func TestNeedsEnhanced(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind remux.Kind
		body []byte
		want bool
	}{
		{"legacy AVC keyframe", remux.KindVideo, []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65}, false},
		{"legacy AAC", remux.KindAudio, []byte{0xAF, 0x01, 0x21}, false},
		{"legacy MP3", remux.KindAudio, []byte{0x2F, 0xFF, 0xFB}, false},
		{"hvc1 SequenceStart", remux.KindVideo, []byte{0x90, 'h', 'v', 'c', '1', 0x01}, true},
		{"avc1 in the extended form", remux.KindVideo, []byte{0x93, 'a', 'v', 'c', '1', 0, 0, 0, 1, 0x65}, true},
		{"pre-standard HEVC, CodecID 12", remux.KindVideo, []byte{0x1C, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x26, 0x01}, true},
		{"Opus ExAudio", remux.KindAudio, []byte{0x91, 'O', 'p', 'u', 's', 0xFC}, true},
		{"legacy Speex (no FourCC)", remux.KindAudio, []byte{0xB2, 0x00}, false},
		{"data", remux.KindData, []byte{0x02, 0x00, 0x01, 'x'}, false},
	} {
		m := remux.NewMessage(tc.kind, 0, tc.body)
		if got := NeedsEnhanced(m); got != tc.want {
			t.Errorf("%s: NeedsEnhanced = %v, want %v (frame %+v)", tc.name, got, tc.want, m.Frame)
		}
	}
}
