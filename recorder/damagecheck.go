package recorder

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// checkWhole checks, read-only, the whole structure of a closed recording
// and returns why it is damaged: every FLV tag header (type, size, a
// PreviousTagSize that is not zero), every top-level MP4 box, and the
// boxes nested in MP4's container boxes (moov, trak, moof, traf, ...),
// which must fill their parent exactly. It is what checkClosed does not
// do at start-up (that looks at the end only): damage in the middle of a
// file, which a bad card, a bad copy or a person's editing leaves. It
// reads only headers, but as they are spread over the whole file it reads
// about all of it from the card: the DamageScanner runs it once per file,
// rate-limited. Media payloads are not decoded.
func checkWhole(path string) (why string, damaged bool, err error) {
	return checkWholePaced(context.Background(), path, 0)
}

// checkWholePaced is checkWhole reading the file no faster than rate bytes
// a second (by how far into it the reads got; 0: unpaced), and giving up
// with ctx's error when ctx ends.
func checkWholePaced(ctx context.Context, path string, rate int64) (why string, damaged bool, err error) {
	file, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return "", false, err
	}
	f := &pacedReader{r: file, ctx: ctx, rate: rate, start: time.Now()}
	size := info.Size()
	if size == 0 {
		return "empty file", true, nil
	}
	if strings.EqualFold(filepath.Ext(path), extFLV) {
		var sc flvScan
		if err := sc.scan(f, size); err != nil {
			if isNothingPlayable(err) {
				return err.Error(), true, nil
			}
			return "", false, err
		}
		if sc.end < size {
			return fmt.Sprintf("playable up to byte %d of %d: %s", sc.end, size, sc.why), true, nil
		}
		return "", false, nil
	}
	cut, why, err := scanMP4(f, size)
	if err != nil {
		if isNothingPlayable(err) {
			return err.Error(), true, nil
		}
		return "", false, err
	}
	if cut < size {
		return fmt.Sprintf("playable up to byte %d of %d: %s", cut, size, why), true, nil
	}
	if why, bad, err := checkMP4Nested(f, 0, size, 0); err != nil || bad {
		return why, bad, err
	}
	return "", false, nil
}

// mp4Containers are the boxes whose content is boxes only.
var mp4Containers = map[string]bool{
	"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true, "edts": true, "dinf": true,
	"mvex": true, "moof": true, "traf": true, "mfra": true,
}

// checkMP4Nested walks the boxes in [from, to) and, within the container
// boxes among them, their children, which must fill their parent exactly.
func checkMP4Nested(r io.ReaderAt, from, to int64, depth int) (string, bool, error) {
	var h [16]byte
	for p := from; p < to; {
		if to-p < 8 {
			return fmt.Sprintf("%d stray bytes at %d", to-p, p), true, nil
		}
		if _, err := r.ReadAt(h[:8], p); err != nil {
			return "", false, err
		}
		typ := string(h[4:8])
		n, hl := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch n {
		case 0:
			n = to - p
		case 1:
			if to-p < 16 {
				return fmt.Sprintf("incomplete %q box header at %d", typ, p), true, nil
			}
			if _, err := r.ReadAt(h[8:16], p+8); err != nil {
				return "", false, err
			}
			n, hl = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if !printable4(h[4:8]) {
			return fmt.Sprintf("no valid box at %d", p), true, nil
		}
		if n < hl || n > to-p {
			return fmt.Sprintf("%s box at %d: size %d does not fit its parent (%d bytes left)", typ, p, n, to-p), true, nil
		}
		if mp4Containers[typ] && depth < 8 {
			if why, bad, err := checkMP4Nested(r, p+hl, p+n, depth+1); err != nil || bad {
				return why, bad, err
			}
		}
		p += n
	}
	return "", false, nil
}

func isNothingPlayable(err error) bool { return errors.Is(err, errNothingPlayable) }

// pacedReader keeps reads of a file from going through it faster than
// rate bytes a second, so that a check shares the card with recording,
// and ends them when ctx does (shutdown does not wait for a long check).
type pacedReader struct {
	r     io.ReaderAt
	ctx   context.Context
	rate  int64
	start time.Time
	n     int // reads since ctx was last looked at
}

func (p *pacedReader) ReadAt(b []byte, off int64) (int, error) {
	if p.n++; p.n >= 256 {
		p.n = 0
		if err := p.ctx.Err(); err != nil {
			return 0, err
		}
		if p.rate > 0 {
			ahead := time.Duration(float64(off)/float64(p.rate)*float64(time.Second)) - time.Since(p.start)
			if ahead > 50*time.Millisecond {
				t := time.NewTimer(ahead)
				select {
				case <-p.ctx.Done():
					t.Stop()
					return 0, p.ctx.Err()
				case <-t.C:
				}
			}
		}
	}
	return p.r.ReadAt(b, off)
}
