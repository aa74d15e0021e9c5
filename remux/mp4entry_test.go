package remux

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// MP4 files ffmpeg 5.1 wrote (the FuzzMP4Reader seeds: 1 s, 10 fps, a
// keyframe every 5 frames) with AV1, VP9, Opus, FLAC, AC-3 and E-AC-3
// read back as the Enhanced RTMP messages a player of them gets: an
// ExVideo/ExAudio SequenceStart with the FourCC and the configuration the
// specification puts there, then CodedFrames — for AV1 and VP9 without a
// composition time — holding the samples.
func TestMP4ReaderEnhancedCodecs(t *testing.T) {
	for _, c := range []struct {
		file         string
		video, audio FourCC
		audioFrames  int
		checkConfig  func([]byte) error
		checkFrame   func([]byte) error
	}{
		{"av1-opus-1s-fragmented", CodecAV1, CodecOpus, 50,
			func(b []byte) error {
				h, err := ParseOpusHead(b)
				return errIf(err, h.Channels != 1, "OpusHead %+v", h)
			},
			func(b []byte) error { return errIf(nil, len(b) == 0, "empty Opus packet") }},
		{"vp9-flac-1s-faststart", CodecVP9, CodecFLAC, 14,
			func(b []byte) error {
				si, err := ParseFLACConfig(b)
				return errIf(err, len(b) != 34 || si.SampleRate != 8000 || si.Channels != 1 || si.BitsPerSample != 16, "STREAMINFO %+v", si)
			},
			func(b []byte) error {
				return errIf(nil, len(b) < 2 || b[0] != 0xFF || b[1]&0xFE != 0xF8, "no FLAC frame sync: % x", b[:2])
			}},
		{"vp9-ac3-1s-fragmented", CodecVP9, CodecAC3, 32,
			func(b []byte) error { return errIf(nil, len(b) != 0, "ac-3 SequenceStart of %d bytes", len(b)) },
			func(b []byte) error {
				h, err := ParseAC3Header(b)
				return errIf(err, h.EAC3 || h.FrameSize != len(b) || h.SampleRate != 48000, "syncframe %+v of %d bytes", h, len(b))
			}},
		{"av1-eac3-1s-faststart", CodecAV1, CodecEAC3, 32,
			func(b []byte) error { return errIf(nil, len(b) != 0, "ec-3 SequenceStart of %d bytes", len(b)) },
			func(b []byte) error {
				h, err := ParseAC3Header(b)
				return errIf(err, !h.EAC3 || h.FrameSize != len(b) || h.SamplesPerFrame != 1536, "syncframe %+v of %d bytes", h, len(b))
			}},
	} {
		t.Run(c.file, func(t *testing.T) {
			rd, err := openReader("mp4", corpusBytes(t, filepath.Join("testdata", "fuzz", "FuzzMP4Reader", c.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if info := rd.Info(); info.VideoCodec != c.video || info.AudioCodec != c.audio {
				t.Fatalf("codecs %v %v, want %v %v", info.VideoCodec, info.AudioCodec, c.video, c.audio)
			}
			hdrs := rd.Headers()
			if len(hdrs) != 2 {
				t.Fatalf("%d headers", len(hdrs))
			}
			v, a := hdrs[0], hdrs[1]
			if !bytes.Equal(v.Payload[:5], fourCCBytes(0x90, c.video)) || !v.Frame.SequenceHeader {
				t.Errorf("video header % x", v.Payload[:5])
			}
			cfg := v.Frame.Data(v.Payload)
			if c.video == CodecAV1 {
				if _, err := ParseAV1Config(cfg); err != nil {
					t.Errorf("av1C: %v", err)
				}
			} else if len(cfg) < 12 || cfg[0] != 1 { // vpcC content, version 1 and flags first
				t.Errorf("vpcC % x", cfg)
			} else if _, err := ParseVP9Config(cfg); err != nil {
				t.Errorf("vpcC: %v", err)
			}
			if !bytes.Equal(a.Payload[:5], fourCCBytes(0x90, c.audio)) || !a.Frame.SequenceHeader {
				t.Errorf("audio header % x", a.Payload[:min(5, len(a.Payload))])
			}
			if err := c.checkConfig(a.Frame.Data(a.Payload)); err != nil {
				t.Errorf("audio SequenceStart: %v", err)
			}
			v.Release()
			a.Release()
			video, keys, audio := 0, 0, 0
			for {
				m, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				f := m.Frame
				data := f.Data(m.Payload)
				switch m.Kind {
				case KindVideo:
					// ExHeader, CodedFrames (1), the FourCC, then the sample: no SI24.
					if f.Codec != c.video || f.Packet != PacketCodedFrames || m.Payload[0]&0x8F != 0x81 || f.Body != 5 || len(data) == 0 {
						t.Fatalf("video message % x: %+v", m.Payload[:8], f)
					}
					video++
					if f.Keyframe {
						keys++
						if m.Payload[0]>>4&7 != 1 {
							t.Errorf("keyframe with frame type %d", m.Payload[0]>>4&7)
						}
					}
				case KindAudio:
					if f.Codec != c.audio || f.Packet != PacketCodedFrames || m.Payload[0] != 0x91 || f.Body != 5 {
						t.Fatalf("audio message % x: %+v", m.Payload[:5], f)
					}
					if err := c.checkFrame(data); err != nil {
						t.Fatalf("audio frame %d: %v", audio, err)
					}
					audio++
				}
				m.Release()
			}
			if video != 10 || keys != 2 || audio < c.audioFrames {
				t.Errorf("%d video frames, %d keyframes, %d audio frames; want 10, 2, %d", video, keys, audio, c.audioFrames)
			}
		})
	}
}

func fourCCBytes(first byte, c FourCC) []byte {
	return []byte{first, byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
}

// errIf is err, or an error made of format and args when bad.
func errIf(err error, bad bool, format string, args ...any) error {
	if err != nil {
		return err
	}
	if bad {
		return corrupt(format, args...)
	}
	return nil
}

// dOps to OpusHead (Encapsulation of Opus in ISOBMFF §4.3.2, RFC 7845
// §5.1): the same fields, big endian in the box, little endian with the
// magic and version 1 in the packet.
func TestAppendOpusHead(t *testing.T) {
	for _, c := range []struct {
		name       string
		dOps, want []byte
	}{
		{"stereo", []byte{0, 2, 0x01, 0x38, 0, 0, 0xBB, 0x80, 0, 0, 0},
			[]byte("OpusHead\x01\x02\x38\x01\x80\xBB\x00\x00\x00\x00\x00")},
		// 5.1, family 1: 4 streams, 2 coupled, Vorbis channel order.
		{"5.1", []byte{0, 6, 0x01, 0x38, 0, 0, 0xBB, 0x80, 0xFF, 0x00, 1, 4, 2, 0, 4, 1, 2, 3, 5},
			[]byte("OpusHead\x01\x06\x38\x01\x80\xBB\x00\x00\x00\xFF\x01\x04\x02\x00\x04\x01\x02\x03\x05")},
	} {
		h, err := ParseOpusDOps(c.dOps)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := h.AppendOpusHead(nil)
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x, want % x", c.name, got, c.want)
		}
		if back, err := ParseOpusHead(got); err != nil || !bytes.Equal(back.AppendDOps(nil), c.dOps) {
			t.Errorf("%s: round trip % x, %v", c.name, back.AppendDOps(nil), err)
		}
	}
}

// The three forms of a FLAC sequence start give the same STREAMINFO.
func TestParseFLACConfig(t *testing.T) {
	si := []byte{0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x0A, 0xC4, 0x42, 0xF0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	block := append([]byte{0x80, 0, 0, 34}, si...)
	// A STREAMINFO not flagged last, then a PADDING block (type 1) of 2 bytes.
	padded := append(append([]byte{0x00, 0, 0, 34}, si...), 0x81, 0, 0, 2, 0, 0)
	for _, c := range []struct {
		name       string
		in, blocks []byte
	}{
		{"bare", si, block},
		{"block", block, block},
		{"fLaC and block", append([]byte("fLaC"), block...), block},
		{"fLaC and two blocks", append([]byte("fLaC"), padded...), padded},
	} {
		got, err := ParseFLACConfig(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got.Raw, si) || !bytes.Equal(got.Blocks, c.blocks) || got.SampleRate != 44100 || got.Channels != 2 ||
			got.BitsPerSample != 16 || got.MinBlockSize != 4096 || got.MaxBlockSize != 4096 {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	// A STREAMINFO without a last flag and nothing after it: flagged last.
	got, err := ParseFLACConfig(append([]byte{0x00, 0, 0, 34}, si...))
	if err != nil || !bytes.Equal(got.Blocks, block) {
		t.Errorf("unflagged block: % x, %v", got.Blocks, err)
	}
	for _, bad := range [][]byte{nil, []byte("fLaC"), si[:33], append([]byte{0x01, 0, 0, 34}, si...)} {
		if _, err := ParseFLACConfig(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

func FuzzParseFLACConfig(f *testing.F) {
	f.Add(append([]byte("fLaC\x80\x00\x00\x22"), make([]byte, 34)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := ParseFLACConfig(b)
		if err == nil && (len(si.Raw) != 34 || len(si.Blocks) < 38 || si.Blocks[4] != si.Raw[0]) {
			t.Fatalf("%+v", si)
		}
	})
}

func FuzzParseAC3Header(f *testing.F) {
	f.Add([]byte{0x0B, 0x77, 0, 0, 0x14, 0x40, 0x40, 0})
	f.Add([]byte{0x0B, 0x77, 0x01, 0x7F, 0x34, 0x80, 0xFE, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseAC3Header(b)
		if err == nil && (h.SampleRate == 0 || h.FrameSize == 0 || h.SamplesPerFrame == 0 || h.Channels() > 6) {
			t.Fatalf("%+v", h)
		}
	})
}
