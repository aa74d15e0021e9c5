package recorder

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// box builds an MP4 box of a type around a payload.
func box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(out, typ...), body...)
}

// largeBox builds a box with a 64-bit size.
func largeBox(typ string, payload []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, 1)
	out = append(out, typ...)
	out = binary.BigEndian.AppendUint64(out, uint64(16+len(payload)))
	return append(out, payload...)
}

func TestMP4Format(t *testing.T) {
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso6"))
	mvhd, trak := box("mvhd", make([]byte, 100)), box("trak", box("tkhd", make([]byte, 84)))
	mvex := box("mvex", box("trex", make([]byte, 24)))
	frag := append(box("moof", box("mfhd", make([]byte, 8))), box("mdat", make([]byte, 64))...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"fragmented with fragments", cat(ftyp, box("moov", mvhd, trak, mvex), frag, frag), FormatFMP4},
		{"fragmented, no fragment yet (just opened)", cat(ftyp, box("moov", mvhd, trak, mvex)), FormatFMP4},
		{"fragmented, mvex first", cat(ftyp, box("moov", mvex, mvhd, trak), frag), FormatFMP4},
		{"fragmented, cut in a fragment (crash)", cat(ftyp, box("moov", mvhd, trak, mvex), frag[:20]), FormatFMP4},
		{"progressive, moov first", cat(ftyp, box("moov", mvhd, trak), box("mdat", make([]byte, 64))), FormatMP4},
		{"progressive, moov last", cat(ftyp, box("mdat", make([]byte, 64)), box("moov", mvhd, trak)), FormatMP4},
		{"progressive, 64-bit mdat", cat(ftyp, largeBox("mdat", make([]byte, 64)), box("moov", mvhd, trak)), FormatMP4},
		{"fragmented, 64-bit moov", cat(ftyp, largeBox("moov", cat(mvhd, mvex)), frag), FormatFMP4},
		{"moov cut short", cat(ftyp, box("moov", mvhd, trak, mvex)[:50]), FormatMP4},
		{"not MP4", bytes.Repeat([]byte("garbage!"), 100), FormatMP4},
		{"empty", nil, FormatMP4},
		{"zero-size moov runs to the end", cat(ftyp, []byte{0, 0, 0, 0}, []byte("moov"), mvhd, mvex), FormatFMP4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mp4Format(bytes.NewReader(tc.file), int64(len(tc.file))); got != tc.want {
				t.Errorf("mp4Format = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzMP4Format: any bytes give one of the two answers, without a panic
// or a read outside the file.
func FuzzMP4Format(f *testing.F) {
	ftyp := box("ftyp", []byte("isom"))
	f.Add(append(ftyp, box("moov", box("mvhd", make([]byte, 8)), box("mvex"))...))
	f.Add(append(ftyp, box("moov", box("mvhd", make([]byte, 8)))...))
	f.Add(largeBox("moov", box("mvex")))
	f.Add([]byte{0, 0, 0, 1, 'm', 'o', 'o', 'v', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &strictReader{data: data, t: t}
		if got := mp4Format(r, int64(len(data))); got != FormatFMP4 && got != FormatMP4 {
			t.Fatalf("mp4Format = %q", got)
		}
	})
}

// strictReader fails the test on a read that does not lie inside data.
type strictReader struct {
	data []byte
	t    *testing.T
}

func (r *strictReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.data)) {
		r.t.Fatalf("read of %d bytes at %d outside a %d-byte file", len(p), off, len(r.data))
	}
	return copy(p, r.data[off:]), nil
}
