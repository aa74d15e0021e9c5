package remux

import "testing"

// AudioSpecificConfigs laid out bit by bit from ISO/IEC 14496-3 §1.6.2.1:
// audioObjectType(5, escape 31 + 6), samplingFrequencyIndex(4, escape 15 +
// 24-bit rate), channelConfiguration(4), for explicit SBR/PS the extension
// rate and the core object type, then GASpecificConfig's frameLengthFlag.
func TestParseAACConfig(t *testing.T) {
	tests := []struct {
		name     string
		asc      []byte
		want     AACConfig
		channels int
	}{
		{"LC 44.1 kHz stereo (ffmpeg's aac)", []byte{0x12, 0x10}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 44100, Channels: 2, FrameLength: 1024}, 2},
		{"LC 48 kHz stereo", []byte{0x11, 0x90}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 48000, Channels: 2, FrameLength: 1024}, 2},
		{"LC 48 kHz 960-sample frames", []byte{0x11, 0x94}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 48000, Channels: 2, FrameLength: 960}, 2},
		{"Main 48 kHz mono", []byte{0x09, 0x88}, AACConfig{ObjectType: 1, CoreObjectType: 1, SampleRate: 48000, Channels: 1, FrameLength: 1024}, 1},
		{"LC 7.1 (configuration 7)", []byte{0x11, 0xB8}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 48000, Channels: 7, FrameLength: 1024}, 8},
		{"HE-AAC explicit SBR 22.05 kHz core, 44.1 kHz out", []byte{0x2B, 0x92, 0x08, 0x00},
			AACConfig{ObjectType: 5, CoreObjectType: 2, SampleRate: 22050, ExtensionSampleRate: 44100, Channels: 2, FrameLength: 1024}, 2},
		// 00010 1111 <24-bit 0x00BB80> 0001 0: LC, explicit 48000 Hz, mono.
		{"explicit sampling rate", []byte{0x17, 0x80, 0x5D, 0xC0, 0x08}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 48000, Channels: 1, FrameLength: 1024}, 1},
		// 11111 001010 (42, USAC) 0011 0010 0.
		{"escaped object type", []byte{0xF9, 0x46, 0x40}, AACConfig{ObjectType: 42, CoreObjectType: 42, SampleRate: 48000, Channels: 2, FrameLength: 1024}, 2},
		{"channels from a PCE", []byte{0x11, 0x80}, AACConfig{ObjectType: 2, CoreObjectType: 2, SampleRate: 48000, FrameLength: 1024}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAACConfig(tc.asc)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || got.ChannelCount() != tc.channels {
				t.Errorf("got  %+v (%d channels)\nwant %+v (%d)", got, got.ChannelCount(), tc.want, tc.channels)
			}
		})
	}
	for _, asc := range [][]byte{nil, {0x12}, {0x16, 0x90}, {0x01, 0x90}, {0x2B, 0x92}} { // cut, reserved index 13, type 0, SBR cut
		if c, err := ParseAACConfig(asc); err == nil {
			t.Errorf("ParseAACConfig(% x) = %+v", asc, c)
		}
	}
}

func FuzzParseAACConfig(f *testing.F) {
	for _, s := range [][]byte{{0x12, 0x10}, {0x11, 0x94}, {0x2B, 0x92, 0x08, 0x00}, {0x17, 0x80, 0x5D, 0xC0, 0x08}, {0xF9, 0x46, 0x40}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAACConfig(b)
		if err != nil {
			return
		}
		if c.SampleRate == 0 || c.ObjectType == 0 || (c.FrameLength != 1024 && c.FrameLength != 960) || c.ChannelCount() > 24 {
			t.Fatalf("%+v from % x", c, b)
		}
	})
}
