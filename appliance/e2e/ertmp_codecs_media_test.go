//go:build linux

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/tapedeck/tapedeck/remux"
)

// VP9, AV1 and Opus sources for gortmplib: ffmpeg 5.1 writes them to IVF
// and Ogg (its FLV muxer knows none of them; its MP4 muxer writes an empty
// av1C when the moov comes first), and these readers take the frames back out.

// encodeIVFOgg runs ffmpeg with the inputs and video codec options
// writing an IVF file and with the audio options writing an Ogg file, and
// returns the frames of both.
func encodeIVFOgg(t *testing.T, video remux.FourCC, videoArgs, audioArgs []string) *srcMedia {
	t.Helper()
	dir := t.TempDir()
	ivf, ogg := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ogg")
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-t", "2", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v"}
	args = append(append(args, videoArgs...), "-f", "ivf", ivf, "-map", "1:a")
	args = append(append(args, audioArgs...), "-f", "ogg", ogg)
	if out, err := hardRun(t, time.Minute, "ffmpeg", args...); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	m := &srcMedia{videoCodec: video, audioCodec: remux.CodecOpus, videoFile: ivf, audioFile: ogg}
	for _, f := range readIVF(t, ivf) {
		if video == remux.CodecAV1 {
			f.nalus = av1OBUs(f.data)
			if f.nalus == nil {
				t.Fatalf("ivf frame at %v: not AV1 OBUs", f.pts)
			}
			f.data, f.sum = nil, nalSum(f.nalus)
		}
		m.video = append(m.video, f)
	}
	pkts := readOggPackets(t, ogg)
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) {
		t.Fatalf("%s: no OpusHead", ogg)
	}
	m.audioConfig = pkts[0]
	for i, p := range pkts[2:] { // OpusHead, OpusTags, then audio
		ts := time.Duration(i) * 20 * time.Millisecond // -frame_duration 20
		m.audio = append(m.audio, srcFrame{dts: ts, pts: ts, data: p, sum: sha256.Sum256(p)})
	}
	if len(m.video) == 0 || len(m.audio) == 0 {
		t.Fatalf("%d video and %d audio frames", len(m.video), len(m.audio))
	}
	return m
}

// av1OBUs splits a temporal unit into its OBUs (size fields dropped, as
// gortmplib takes and returns them) without the temporal delimiter, which
// gortmplib's writer adds itself.
func av1OBUs(tu []byte) [][]byte {
	var bs av1.Bitstream
	if bs.Unmarshal(tu) != nil {
		return nil
	}
	out := bs[:0]
	for _, o := range bs {
		if (o[0]>>3)&0x0F != remux.AV1OBUTemporalDelimiter {
			out = append(out, o)
		}
	}
	return out
}

// readIVF reads an IVF file: a 32-byte header (DKIF, version, header
// size, FourCC, width, height, time base denominator and numerator, frame
// count), then per frame a 4-byte size and an 8-byte timestamp, little
// endian.
func readIVF(t *testing.T, path string) []srcFrame {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		t.Fatalf("%s: not IVF", path)
	}
	den, num := binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
	if den == 0 || num == 0 {
		t.Fatalf("%s: time base %d/%d", path, num, den)
	}
	var out []srcFrame
	for p := int(binary.LittleEndian.Uint16(b[6:])); p+12 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[p:]))
		ts := binary.LittleEndian.Uint64(b[p+4:])
		p += 12
		if n > len(b)-p {
			t.Fatalf("%s: frame of %d bytes cut", path, n)
		}
		d := bytes.Clone(b[p : p+n])
		p += n
		pts := time.Duration(ts) * time.Second * time.Duration(num) / time.Duration(den)
		out = append(out, srcFrame{dts: pts, pts: pts, data: d, sum: sha256.Sum256(d)})
	}
	return out
}

// readOggPackets reads the packets of a single-stream Ogg file (RFC 3533):
// pages of "OggS", version, header type, granule position, serial, page
// sequence, CRC, a segment table; a packet ends at a segment shorter than
// 255 bytes and may continue on the next page.
func readOggPackets(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	var cur []byte
	for p := 0; p < len(b); {
		if len(b)-p < 27 || string(b[p:p+4]) != "OggS" {
			t.Fatalf("%s: no Ogg page at %d", path, p)
		}
		nseg := int(b[p+26])
		segs := b[p+27 : p+27+nseg]
		p += 27 + nseg
		for _, l := range segs {
			cur = append(cur, b[p:p+int(l)]...)
			p += int(l)
			if l < 255 {
				pkts = append(pkts, cur)
				cur = nil
			}
		}
	}
	return pkts
}
