package hls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Bounds on what scanning a file reads into memory.
const (
	maxMoovBytes = 4 << 20
	maxMoofBytes = 1 << 20
	maxBoxes     = 1 << 20
)

// fmp4Layout is where a recorded fMP4 file's parts are: the init section
// (ftyp, moov) and the decode times of its fragments, which a VOD
// playlist shifts so that consecutive files make one timeline.
type fmp4Layout struct {
	initEnd int64             // end of the moov: the init section is [0, initEnd)
	scales  map[uint32]uint32 // track ID -> timescale
	tfdts   []tfdtField
}

// tfdtField is one track fragment's baseMediaDecodeTime in the file.
type tfdtField struct {
	at    int64 // file offset of the time field
	wide  bool  // 64 bits (version 1), else 32
	track uint32
}

var errNotFMP4 = errors.New("not a fragmented MP4 file")

// scanInit returns the end of a file's init section.
func scanInit(r io.ReaderAt, size int64) (int64, error) {
	l, err := scan(r, size, true)
	if err != nil {
		return 0, err
	}
	return l.initEnd, nil
}

// scanFMP4 walks the top-level boxes of a file of size bytes.
func scanFMP4(r io.ReaderAt, size int64) (*fmp4Layout, error) { return scan(r, size, false) }

// scan walks the top-level boxes, up to the moov when initOnly.
func scan(r io.ReaderAt, size int64, initOnly bool) (*fmp4Layout, error) {
	l := &fmp4Layout{scales: map[uint32]uint32{}}
	var hdr [16]byte
	for off, n := int64(0), 0; off < size; n++ {
		if n >= maxBoxes {
			return nil, fmt.Errorf("more than %d boxes", maxBoxes)
		}
		if size-off < 8 {
			break // a torn tail
		}
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return nil, fmt.Errorf("box at %d: %w", off, err)
		}
		boxSize, head := int64(binary.BigEndian.Uint32(hdr[:4])), int64(8)
		typ := string(hdr[4:8])
		switch boxSize {
		case 0:
			boxSize = size - off
		case 1:
			if size-off < 16 {
				break
			}
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				return nil, fmt.Errorf("box at %d: %w", off, err)
			}
			boxSize, head = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if boxSize < head || boxSize > size-off {
			break // a torn tail: what is before it plays
		}
		switch typ {
		case "moov":
			if l.initEnd != 0 {
				return nil, errors.New("second moov")
			}
			b, err := readBox(r, off+head, boxSize-head, maxMoovBytes)
			if err != nil {
				return nil, fmt.Errorf("moov: %w", err)
			}
			parseMoov(b, l.scales)
			l.initEnd = off + boxSize
			if initOnly {
				if len(l.scales) == 0 {
					return nil, errNotFMP4
				}
				return l, nil
			}
		case "moof":
			if l.initEnd == 0 {
				return nil, errors.New("moof before moov")
			}
			b, err := readBox(r, off+head, boxSize-head, maxMoofBytes)
			if err != nil {
				return nil, fmt.Errorf("moof at %d: %w", off, err)
			}
			l.tfdts = parseMoof(b, off+head, l.tfdts)
		}
		off += boxSize
	}
	if l.initEnd == 0 || len(l.scales) == 0 {
		return nil, errNotFMP4
	}
	return l, nil
}

func readBox(r io.ReaderAt, off, n, limit int64) ([]byte, error) {
	if n > limit {
		return nil, fmt.Errorf("%d bytes, over %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// boxes calls fn for each complete child box of b with its type, its
// payload and the payload's offset in b.
func boxes(b []byte, fn func(typ string, payload []byte, at int)) {
	for off := 0; len(b)-off >= 8; {
		n := int(binary.BigEndian.Uint32(b[off:]))
		head := 8
		if n == 1 && len(b)-off >= 16 {
			n64 := binary.BigEndian.Uint64(b[off+8:])
			if n64 > uint64(len(b)-off) {
				return
			}
			n, head = int(n64), 16
		}
		if n < head || n > len(b)-off {
			return
		}
		fn(string(b[off+4:off+8]), b[off+head:off+n], off+head)
		off += n
	}
}

// parseMoov reads each trak's track ID (tkhd) and timescale (mdhd).
func parseMoov(moov []byte, scales map[uint32]uint32) {
	boxes(moov, func(typ string, trak []byte, _ int) {
		if typ != "trak" {
			return
		}
		var id, scale uint32
		boxes(trak, func(typ string, p []byte, _ int) {
			switch typ {
			case "tkhd":
				id = fullBoxField(p, 8, 16)
			case "mdia":
				boxes(p, func(typ string, p []byte, _ int) {
					if typ == "mdhd" {
						scale = fullBoxField(p, 8, 16)
					}
				})
			}
		})
		if id != 0 && scale != 0 {
			scales[id] = scale
		}
	})
}

// fullBoxField is the 32-bit field after a full box's version and flags
// and skip0 (version 0) or skip1 (version 1) bytes of times; 0 if short.
func fullBoxField(p []byte, skip0, skip1 int) uint32 {
	if len(p) < 4 {
		return 0
	}
	at := 4 + skip0
	if p[0] == 1 {
		at = 4 + skip1
	}
	if len(p) < at+4 {
		return 0
	}
	return binary.BigEndian.Uint32(p[at:])
}

// parseMoof appends the tfdt fields of a moof whose payload starts at
// file offset base.
func parseMoof(moof []byte, base int64, out []tfdtField) []tfdtField {
	boxes(moof, func(typ string, traf []byte, trafAt int) {
		if typ != "traf" {
			return
		}
		var track uint32
		var f tfdtField
		found := false
		boxes(traf, func(typ string, p []byte, at int) {
			switch typ {
			case "tfhd":
				track = fullBoxField(p, 0, 0)
			case "tfdt":
				wide := len(p) > 0 && p[0] == 1
				if (wide && len(p) >= 12) || (!wide && len(p) >= 8) {
					f, found = tfdtField{at: base + int64(trafAt+at+4), wide: wide}, true
				}
			}
		})
		if found && track != 0 {
			f.track = track
			out = append(out, f)
		}
	})
	return out
}
