package recorder

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// bitsOf packs fields (width, value pairs) most significant bit first,
// the way the specifications lay them out.
func bitsOf(fields ...uint32) []byte {
	var out []byte
	var acc uint64
	n := 0
	for i := 0; i+1 < len(fields); i += 2 {
		w, v := int(fields[i]), uint64(fields[i+1])
		acc = acc<<w | v&(1<<w-1)
		n += w
		for n >= 8 {
			out = append(out, byte(acc>>(n-8)))
			n -= 8
		}
	}
	if n > 0 {
		out = append(out, byte(acc<<(8-n)))
	}
	return out
}

// ac3Frame is the start of an AC-3 syncframe (TS 102 366 §4.4.1-2):
// syncword, crc1, fscod, frmsizecod, bsid, bsmod, acmod, the mix levels
// acmod calls for, lfeon.
func ac3Frame(fscod, frmsizecod, bsmod, acmod, lfeon uint32) []byte {
	f := []uint32{16, 0x0B77, 16, 0, 2, fscod, 6, frmsizecod, 5, 8, 3, bsmod, 3, acmod}
	if acmod&1 != 0 && acmod != 1 {
		f = append(f, 2, 0) // cmixlev
	}
	if acmod&4 != 0 {
		f = append(f, 2, 0) // surmixlev
	}
	if acmod == 2 {
		f = append(f, 2, 0) // dsurmod
	}
	return append(bitsOf(append(f, 1, lfeon, 7, 0)...), make([]byte, 16)...)
}

// eac3Frame is an E-AC-3 syncframe of size bytes (§E.1.2): strmtyp,
// substreamid, frmsiz, fscod, numblkscod, acmod, lfeon, bsid 16, dialnorm,
// compre 0, and for a dependent substream chanmape 1 and chanmap.
func eac3Frame(strmtyp, sub, size, fscod, numblkscod, acmod, lfeon uint32, chanmap uint32) []byte {
	f := []uint32{16, 0x0B77, 2, strmtyp, 3, sub, 11, size/2 - 1, 2, fscod, 2, numblkscod, 3, acmod, 1, lfeon, 5, 16, 5, 31, 1, 0}
	if acmod == 0 {
		f = append(f, 5, 31, 1, 0)
	}
	if strmtyp == 1 {
		f = append(f, 1, 1, 16, chanmap)
	}
	b := bitsOf(f...)
	return append(b, make([]byte, int(size)-len(b))...)
}

// The AC-3 and E-AC-3 sample entry boxes, bit by bit from ETSI TS 102 366
// F.4 (dac3) and F.6 (dec3), from the syncframe fields.
func TestAC3SpecificBoxes(t *testing.T) {
	for _, c := range []struct {
		name     string
		codec    remux.FourCC
		frame    []byte
		want     []byte
		rate     uint32
		channels uint16
		samples  uint32
	}{
		// 48 kHz, 192 kbit/s (frmsizecod 20: bit_rate_code 10), stereo:
		// fscod 00 bsid 01000 bsmod 000 acmod 010 lfeon 0 brc 01010 reserved 00000.
		{"ac-3 stereo 192k", remux.CodecAC3, ac3Frame(0, 20, 0, 2, 0), []byte{0x10, 0x11, 0x40}, 48000, 2, 1536},
		// 48 kHz, 448 kbit/s (30: 15), 5.1: acmod 111 lfeon 1.
		{"ac-3 5.1 448k", remux.CodecAC3, ac3Frame(0, 30, 0, 7, 1), []byte{0x10, 0x3D, 0xE0}, 48000, 6, 1536},
		// 44.1 kHz, 128k (17: 8, odd code), mono, bsmod 2 (dialogue):
		// 01 01000 010 001 0 01000 00000.
		{"ac-3 mono 44.1k", remux.CodecAC3, ac3Frame(1, 17, 2, 1, 0), []byte{0x50, 0x89, 0x00}, 44100, 1, 1536},
		// E-AC-3, 48 kHz, 6 blocks, 768-byte frame: 768*8*48000/1536 = 192
		// kbit/s: data_rate 0000011000000 num_ind_sub 000; fscod 00 bsid
		// 10000 reserved 0 asvc 0 bsmod 000 acmod 010 lfeon 0; reserved 000
		// num_dep_sub 0000 reserved 0.
		{"ec-3 stereo", remux.CodecEAC3, eac3Frame(0, 0, 768, 0, 3, 2, 0, 0), []byte{0x06, 0x00, 0x20, 0x04, 0x00}, 48000, 2, 1536},
		// 5.1 independent (acmod 7, lfeon) plus a dependent substream with
		// chanmap 0x0040, which L-SMASH and Microsoft's muxer both turn into
		// chan_loc 0x002: data_rate 192+192, num_dep_sub 1, chan_loc 000000010.
		{"ec-3 7.1", remux.CodecEAC3, append(eac3Frame(0, 0, 768, 0, 3, 7, 1, 0), eac3Frame(1, 0, 768, 0, 3, 2, 0, 0x0040)...),
			[]byte{0x0C, 0x00, 0x20, 0x0F, 0x02, 0x02}, 48000, 6, 1536},
		// 32 kHz with 1 block (256 samples): 64-byte frames are 64 kbit/s.
		{"ec-3 1 block 32k", remux.CodecEAC3, eac3Frame(0, 0, 64, 2, 0, 1, 0, 0), []byte{0x02, 0x00, 0xA0, 0x02, 0x00}, 32000, 1, 256},
	} {
		tc, err := newAudioConfig(c.codec, c.frame)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(tc.record, c.want) || tc.sampleRate != c.rate || tc.channels != c.channels || tc.frameSamples != c.samples {
			t.Errorf("%s: box % x, %d Hz, %d channels, %d samples; want % x, %d, %d, %d",
				c.name, tc.record, tc.sampleRate, tc.channels, tc.frameSamples, c.want, c.rate, c.channels, c.samples)
		}
	}
	// The sequence start (empty) waits for a frame; a FourCC that does not
	// match the bitstream is refused.
	if _, err := newAudioConfig(remux.CodecAC3, nil); err != errFromFrame {
		t.Errorf("empty ac-3 sequence start: %v, want errFromFrame", err)
	}
	if _, err := newAudioConfig(remux.CodecAC3, eac3Frame(0, 0, 768, 0, 3, 2, 0, 0)); err == nil {
		t.Error("E-AC-3 bitstream accepted as ac-3")
	}
	if _, err := newAudioConfig(remux.CodecEAC3, []byte{0x0B, 0x77, 0}); err == nil {
		t.Error("cut syncframe accepted")
	}
}

// The whole audio sample entries for FLAC, AC-3 and E-AC-3, byte for byte
// (ISO/IEC 14496-12 §12.2.3 AudioSampleEntry; FLAC in ISOBMFF §3.3.1-2;
// TS 102 366 F.3, F.5).
func TestAudioSampleEntries(t *testing.T) {
	// STREAMINFO: block size 4096..4096, frame sizes 0, 44100 Hz, 2
	// channels, 16 bits, 0 samples, MD5 0 (RFC 9639 §8.2).
	streamInfo := append([]byte{0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x0A, 0xC4, 0x42, 0xF0, 0, 0, 0, 0}, make([]byte, 16)...)
	entry := func(typ string, channels, size uint16, rate uint32, box []byte) []byte {
		b := []byte{0, 0, 0, 0}
		b = append(b, typ...)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, byte(channels>>8), byte(channels), byte(size>>8), byte(size), 0, 0, 0, 0,
			byte(rate>>8), byte(rate), 0, 0)
		b = append(b, box...)
		b[3] = byte(len(b))
		return b
	}
	box := func(typ string, content ...byte) []byte {
		return append([]byte{0, 0, 0, byte(8 + len(content)), typ[0], typ[1], typ[2], typ[3]}, content...)
	}
	for _, c := range []struct {
		name  string
		codec remux.FourCC
		rec   []byte
		want  []byte
	}{
		// Bare STREAMINFO (gortmplib), "fLaC" + block (the E-RTMP v2 text)
		// and the block alone all make one dfLa: version 0, flags 0, the
		// block flagged last (0x80), type 0, length 34.
		{"fLaC bare", remux.CodecFLAC, streamInfo,
			entry("fLaC", 2, 16, 44100, box("dfLa", append([]byte{0, 0, 0, 0, 0x80, 0, 0, 34}, streamInfo...)...))},
		{"fLaC v2 form", remux.CodecFLAC, append([]byte("fLaC\x80\x00\x00\x22"), streamInfo...),
			entry("fLaC", 2, 16, 44100, box("dfLa", append([]byte{0, 0, 0, 0, 0x80, 0, 0, 34}, streamInfo...)...))},
		{"ac-3", remux.CodecAC3, ac3Frame(0, 20, 0, 2, 0), entry("ac-3", 2, 16, 48000, box("dac3", 0x10, 0x11, 0x40))},
		{"ec-3", remux.CodecEAC3, eac3Frame(0, 0, 768, 0, 3, 2, 0, 0), entry("ec-3", 2, 16, 48000, box("dec3", 0x06, 0x00, 0x20, 0x04, 0x00))},
	} {
		tc, err := newAudioConfig(c.codec, c.rec)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := appendAudioEntry(nil, 2, tc); !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got % x\nwant % x", c.name, got, c.want)
		}
	}
	// 24-bit FLAC at 96 kHz: samplesize 24; a rate above 65535 Hz is 0 in
	// the 16.16 field (STREAMINFO and the timescale carry it).
	si := bytes.Clone(streamInfo)
	copy(si[10:14], []byte{0x17, 0x70, 0x03, 0x70}) // 96000 Hz, 2 channels, 24 bits
	tc, err := newAudioConfig(remux.CodecFLAC, si)
	if err != nil {
		t.Fatal(err)
	}
	if tc.sampleRate != 96000 || tc.channels != 2 || tc.sampleSize != 24 || tc.frameSamples != 4096 {
		t.Errorf("96k 24-bit FLAC: %+v", tc)
	}
	if e := appendAudioEntry(nil, 2, tc); e[27] != 24 || !bytes.Equal(e[32:36], []byte{0, 0, 0, 0}) {
		t.Errorf("96k 24-bit FLAC sample entry: % x", e[:36])
	}
}

// mp4Box returns the content of the first box of type typ in an MP4
// file's bytes (a naive search, for files with one audio track).
func mp4Box(t *testing.T, b []byte, typ string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(typ))
	if i < 4 {
		t.Fatalf("no %s box", typ)
	}
	n := int(b[i-4])<<24 | int(b[i-3])<<16 | int(b[i-2])<<8 | int(b[i-1])
	return b[i+4 : i-4+n]
}

// FLAC, AC-3 and E-AC-3 from ffmpeg's encoders, read from the MP4 ffmpeg
// wrote (remux's reader turns it into Enhanced RTMP messages: STREAMINFO,
// empty sequence starts), recorded as fMP4 and MP4: ffmpeg decodes every
// frame without an error, the dfLa, dac3 and dec3 boxes — ours built from
// STREAMINFO and from the syncframes — are ffmpeg's, byte for byte, and
// the recording reads back as the very messages it was made of.
func TestFLACAC3EAC3MP4(t *testing.T) {
	t.Parallel()
	needTools(t)
	for _, c := range []struct {
		name, enc, box string
		args           []string
	}{
		{"flac", "flac", "dfLa", []string{"-strict", "-2", "-ar", "48000"}},
		{"ac3", "ac3", "dac3", []string{"-b:a", "192k", "-ac", "2"}},
		{"eac3", "eac3", "dec3", []string{"-b:a", "192k", "-ac", "6"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(t.TempDir(), "src.mp4")
			args := append([]string{"-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", "-c:a", c.enc}, c.args...)
			if out, err := exec.Command("ffmpeg", append(args, src)...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			srcBytes, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			msgs := readMP4Messages(t, srcBytes)
			frames := len(msgs) - 1
			for _, format := range []string{FormatFMP4, FormatMP4} {
				fresh := make([]*remux.Message, len(msgs))
				for i, m := range msgs {
					fresh[i] = remux.NewMessage(m.Kind, m.Timestamp, m.Payload)
				}
				segs := recordN(t, fresh, Config{Dir: t.TempDir(), Format: format, SegmentDuration: time.Minute}, 1)
				r := checkSegment(t, segs[0].Path, "audio")
				if r.Streams[0].CodecName != c.name || r.counts()["audio"] != frames {
					t.Errorf("%s: %+v, %d packets; want %s, %d", format, r.Streams, r.counts()["audio"], c.name, frames)
				}
				out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", segs[0].Path, "-f", "null", "-").CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "" {
					t.Errorf("%s: decoding: %v\n%s", format, err, out)
				}
				got, err := os.ReadFile(segs[0].Path)
				if err != nil {
					t.Fatal(err)
				}
				if ours, theirs := mp4Box(t, got, c.box), mp4Box(t, srcBytes, c.box); !bytes.Equal(ours, theirs) {
					t.Errorf("%s: %s % x, ffmpeg's % x", format, c.box, ours, theirs)
				}
				// Played back (remux's reader, as the vod app does), the
				// recording gives the messages it was made of.
				back := readMP4Messages(t, got)
				if len(back) != len(msgs) {
					t.Fatalf("%s: %d messages read back, %d recorded", format, len(back), len(msgs))
				}
				for i := range back {
					if !bytes.Equal(back[i].Payload, msgs[i].Payload) {
						t.Fatalf("%s: message %d read back as % x, recorded % x", format, i,
							back[i].Payload[:min(len(back[i].Payload), 12)], msgs[i].Payload[:min(len(msgs[i].Payload), 12)])
					}
				}
			}
		})
	}
}

// readMP4Messages reads an MP4 file's bytes with remux's reader: its
// sequence headers, then every frame, as owned messages.
func readMP4Messages(t *testing.T, b []byte) []*remux.Message {
	t.Helper()
	rd, err := remux.OpenMP4(bytes.NewReader(b), int64(len(b)), remux.NewPool())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var msgs []*remux.Message
	for _, h := range rd.Headers() {
		msgs = append(msgs, remux.NewMessage(h.Kind, h.Timestamp, bytes.Clone(h.Payload)))
		h.Release()
	}
	for {
		m, err := rd.Next()
		if err == io.EOF {
			return msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, remux.NewMessage(m.Kind, m.Timestamp, bytes.Clone(m.Payload)))
		m.Release()
	}
}
