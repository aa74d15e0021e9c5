package recorder

import (
	"encoding/binary"
	"io"
	"os"
)

// The format a recording is in, told from the file itself: an .mp4 may be
// fragmented (recorded as fmp4, or as mp4 and not yet rewritten — still
// being recorded, or cut by a crash) or progressive (mp4 once closed).
// The index reports FormatFMP4, FormatMP4 or FormatFLV, the names the
// configuration uses, so a file is called the same everywhere.

// Bounds of the box walk: a recorder's file has ftyp then moov, and moov a
// few children (mvhd, a trak per track, mvex); a file that needs more is
// not one of ours and is called progressive.
const (
	maxTopBoxes  = 16
	maxMoovBoxes = 64
)

// fileFormat returns the format of the recording at path (FormatFLV by
// its extension; see mp4Format for .mp4).
func fileFormat(path string, ext string, size int64) string {
	if ext == extFLV {
		return FormatFLV
	}
	f, err := os.Open(path)
	if err != nil {
		return FormatMP4
	}
	defer f.Close()
	return mp4Format(f, size)
}

// mp4Format reads box headers only: FormatFMP4 when the moov box declares
// movie fragments (it holds an mvex box), FormatMP4 otherwise, including
// when there is no readable moov.
func mp4Format(r io.ReaderAt, size int64) string {
	pos, end, ok := findBox(r, 0, size, "moov", maxTopBoxes)
	if !ok {
		return FormatMP4
	}
	if _, _, ok := findBox(r, pos, end, "mvex", maxMoovBoxes); ok {
		return FormatFMP4
	}
	return FormatMP4
}

// findBox looks among at most limit boxes in [from, to) for one of type
// typ and returns where its payload starts and ends.
func findBox(r io.ReaderAt, from, to int64, typ string, limit int) (payload, end int64, ok bool) {
	var h [16]byte
	p := from
	for i := 0; i < limit && to-p >= 8; i++ {
		if _, err := r.ReadAt(h[:8], p); err != nil {
			return 0, 0, false
		}
		n, hl := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch n {
		case 0: // to the end of the enclosing space
			n = to - p
		case 1: // a 64-bit size follows the type
			if to-p < 16 {
				return 0, 0, false
			}
			if _, err := r.ReadAt(h[8:16], p+8); err != nil {
				return 0, 0, false
			}
			n, hl = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if n < hl || n > to-p {
			// Corrupt, or cut short: a moov being written is whole
			// before the recorder writes anything after it, so a cut box
			// here is not one we can read.
			return 0, 0, false
		}
		if string(h[4:8]) == typ {
			return p + hl, p + n, true
		}
		p += n
	}
	return 0, 0, false
}
