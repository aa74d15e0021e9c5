package remux

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

// What libopus (ffmpeg 5.1) wrote: the OpusHead of an Ogg file, mono and
// 5.1 (-mapping_family 1), and the dOps box of an MP4 file, mono.
var (
	opusHeadMono = unhex("4f707573486561640101380180bb0000000000")
	opusHead51   = unhex("4f707573486561640106380180bb00000000010402000401020305")
	opusDOpsMono = unhex("000101380000bb80000000")
)

func TestParseOpusHead(t *testing.T) {
	mono := OpusHead{Version: 1, Channels: 1, PreSkip: 312, InputSampleRate: 48000, StreamCount: 1}
	tests := []struct {
		name string
		in   []byte
		want OpusHead
	}{
		{"libopus mono", opusHeadMono, mono},
		{"libopus 5.1, family 1", opusHead51, OpusHead{Version: 1, Channels: 6, PreSkip: 312, InputSampleRate: 48000,
			MappingFamily: 1, StreamCount: 4, CoupledCount: 2, ChannelMapping: []byte{0, 4, 1, 2, 3, 5}}},
		// RFC 7845 §5.1 figure 2 layout, little-endian: version 2 (same major
		// version), stereo, pre-skip 3840, 44100 Hz, gain -1.5 dB (Q7.8 -384).
		{"stereo with gain, version 2", []byte("OpusHead\x02\x02\x00\x0f\x44\xac\x00\x00\x80\xfe\x00"), OpusHead{Version: 2,
			Channels: 2, PreSkip: 3840, InputSampleRate: 44100, OutputGain: -384, StreamCount: 1, CoupledCount: 1}},
		{"family 255, one silent channel", []byte("OpusHead\x01\x03\x00\x00\x80\xbb\x00\x00\x00\x00\xff\x02\x00\x00\x01\xff"),
			OpusHead{Version: 1, Channels: 3, InputSampleRate: 48000, MappingFamily: 255, StreamCount: 2, ChannelMapping: []byte{0, 1, 255}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOpusHead(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("dOps", func(t *testing.T) {
		got, err := ParseOpusDOps(opusDOpsMono)
		want := mono
		want.Version = 0
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseOpusDOps = %+v, %v; want %+v", got, err, want)
		}
	})
	for _, in := range [][]byte{
		nil, opusHeadMono[:18], []byte("OpusTags\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),
		[]byte("OpusHead\x00\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),                 // version 0
		[]byte("OpusHead\x10\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),                 // major version 1
		[]byte("OpusHead\x01\x00\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),                 // no channels
		[]byte("OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),                 // 3 channels in family 0
		opusHead51[:len(opusHead51)-1],                                                 // mapping table cut
		[]byte("OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x01\x01\x00\x00\x01"), // channel 1 maps to stream channel 1 of 1
		[]byte("OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x01\x00\x00\x00\x00"), // no streams
	} {
		if _, err := ParseOpusHead(in); err == nil {
			t.Errorf("ParseOpusHead(% x) accepted", in)
		}
	}
	// Why this parser exists: mediacommon's reads the little-endian fields
	// big-endian. When this fails, mediacommon got it right: use it.
	var mc opus.IDHeader
	if err := mc.Unmarshal(opusHeadMono); err == nil && mc.PreSkip == 312 && mc.InputSampleRate == 48000 {
		t.Errorf("mediacommon's opus.IDHeader now reads OpusHead correctly (%+v): replace ParseOpusHead with it", mc)
	}
}

// The dOps an MP4 writer makes from libopus's OpusHead is the one ffmpeg
// wrote for the same encoder output.
func TestOpusHeadAppendDOps(t *testing.T) {
	h, err := ParseOpusHead(opusHeadMono)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.AppendDOps(nil); !bytes.Equal(got, opusDOpsMono) {
		t.Errorf("dOps % x, ffmpeg wrote % x", got, opusDOpsMono)
	}
	h51, _ := ParseOpusHead(opusHead51)
	back, err := ParseOpusDOps(h51.AppendDOps(nil))
	h51.Version = 0
	if err != nil || !reflect.DeepEqual(back, h51) {
		t.Errorf("5.1 dOps round trip: %+v, %v", back, err)
	}
}

func FuzzParseOpusHead(f *testing.F) {
	for _, s := range [][]byte{opusHeadMono, opusHead51, opusDOpsMono, []byte("OpusHead\x01\x03\x00\x00\x80\xbb\x00\x00\x00\x00\xff\x02\x00\x00\x01\xff")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (OpusHead, error){ParseOpusHead, ParseOpusDOps} {
			h, err := parse(b)
			if err != nil {
				continue
			}
			if h.Channels == 0 || h.StreamCount == 0 || h.CoupledCount > h.StreamCount {
				t.Fatalf("%+v accepted", h)
			}
			if h.MappingFamily != 0 && len(h.ChannelMapping) != int(h.Channels) {
				t.Fatalf("%d mapping entries for %d channels", len(h.ChannelMapping), h.Channels)
			}
			if back, err := ParseOpusDOps(h.AppendDOps(nil)); err != nil || back.PreSkip != h.PreSkip ||
				back.OutputGain != h.OutputGain || len(back.ChannelMapping) != len(h.ChannelMapping) {
				t.Fatalf("dOps of %+v reads back as %+v, %v", h, back, err)
			}
			for _, c := range h.ChannelMapping {
				if c != 255 && int(c) >= int(h.StreamCount)+int(h.CoupledCount) {
					t.Fatalf("mapping to stream channel %d in %+v", c, h)
				}
			}
		}
	})
}
