package hls

import (
	"encoding/binary"
	"io"
	"sort"
)

// shiftedMedia reads a recorded file with every fragment's decode time
// moved later by a shift: the bytes on disk are not touched, the new
// times are laid over them as they are read.
type shiftedMedia struct {
	r       io.ReaderAt
	patches []patch
}

// patch is bytes laid over the file at a file offset.
type patch struct {
	at int64
	b  []byte
}

// shiftedSection is the media after the init section of a file of size
// bytes with layout l, its decode times shifted by shift ms, as an
// io.ReadSeeker for http.ServeContent (so ranges work). A time that would
// not fit its field (a 32-bit tfdt) is left as it is.
func shiftedSection(r io.ReaderAt, size int64, l *fmp4Layout, shift int64) (*io.SectionReader, error) {
	s := &shiftedMedia{r: r}
	for _, f := range l.tfdts {
		if shift <= 0 {
			break
		}
		scale, ok := l.scales[f.track]
		if !ok {
			continue
		}
		add := uint64(shift) * uint64(scale) / 1000
		n := 4
		if f.wide {
			n = 8
		}
		var cur [8]byte
		if _, err := r.ReadAt(cur[:n], f.at); err != nil {
			return nil, err
		}
		b := make([]byte, n)
		if f.wide {
			binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(cur[:8])+add)
		} else {
			v := uint64(binary.BigEndian.Uint32(cur[:4])) + add
			if v > 0xFFFFFFFF {
				continue
			}
			binary.BigEndian.PutUint32(b, uint32(v))
		}
		s.patches = append(s.patches, patch{at: f.at, b: b})
	}
	sort.Slice(s.patches, func(i, j int) bool { return s.patches[i].at < s.patches[j].at })
	return io.NewSectionReader(s, l.initEnd, size-l.initEnd), nil
}

// ReadAt reads the file at off with the patches laid over.
func (s *shiftedMedia) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	to := off + int64(n)
	i := sort.Search(len(s.patches), func(i int) bool { return s.patches[i].at+int64(len(s.patches[i].b)) > off })
	for ; i < len(s.patches) && s.patches[i].at < to; i++ {
		pt := s.patches[i]
		for j, c := range pt.b {
			if at := pt.at + int64(j); at >= off && at < to {
				p[at-off] = c
			}
		}
	}
	return n, err
}
