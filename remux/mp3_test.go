package remux

import "testing"

// Frame headers laid out from ISO/IEC 11172-3 §2.4.1.3: sync (11 bits),
// version, layer, protection; bitrate, sampling rate, padding, private;
// channel mode and the rest.
func TestParseMPEGAudioHeader(t *testing.T) {
	tests := []struct {
		name string
		hdr  []byte
		want MPEGAudioHeader
	}{
		{"MPEG 1 Layer III 44.1 kHz stereo (libmp3lame)", []byte{0xFF, 0xFB, 0x90, 0x64}, MPEGAudioHeader{1, 3, 44100, 2, 1152}},
		{"MPEG 1 Layer III 48 kHz mono", []byte{0xFF, 0xFB, 0x94, 0xC4}, MPEGAudioHeader{1, 3, 48000, 1, 1152}},
		{"MPEG 2 Layer III 22.05 kHz", []byte{0xFF, 0xF3, 0x90, 0x64}, MPEGAudioHeader{2, 3, 22050, 2, 576}},
		{"MPEG 2.5 Layer III 8 kHz mono (FLV SoundFormat 14)", []byte{0xFF, 0xE3, 0x18, 0xC4}, MPEGAudioHeader{25, 3, 8000, 1, 576}},
		{"MPEG 1 Layer II 32 kHz", []byte{0xFF, 0xFD, 0x98, 0x00}, MPEGAudioHeader{1, 2, 32000, 2, 1152}},
		{"MPEG 1 Layer I 44.1 kHz", []byte{0xFF, 0xFF, 0x90, 0x00}, MPEGAudioHeader{1, 1, 44100, 2, 384}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMPEGAudioHeader(tc.hdr)
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	for _, hdr := range [][]byte{nil, {0xFF, 0xFB, 0x90}, {0xFE, 0xFB, 0x90, 0x64}, {0xFF, 0xEB, 0x90, 0x64}, {0xFF, 0xF9, 0x90, 0x64}, {0xFF, 0xFB, 0x9C, 0x64}} {
		if h, err := ParseMPEGAudioHeader(hdr); err == nil { // cut, no sync, reserved version, reserved layer, reserved rate
			t.Errorf("ParseMPEGAudioHeader(% x) = %+v", hdr, h)
		}
	}
}

func FuzzParseMPEGAudioHeader(f *testing.F) {
	for _, s := range [][]byte{{0xFF, 0xFB, 0x90, 0x64}, {0xFF, 0xE3, 0x18, 0xC4}, {0xFF, 0xFF, 0x90, 0x00}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseMPEGAudioHeader(b)
		if err != nil {
			return
		}
		if h.SampleRate < 8000 || h.SampleRate > 48000 || h.Layer < 1 || h.Layer > 3 || (h.Channels != 1 && h.Channels != 2) {
			t.Fatalf("%+v from % x", h, b)
		}
	})
}
