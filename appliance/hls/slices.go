package hls

import "io"

// slices are byte slices read one after the other as one stream: a
// segment served from its parts without joining them.
type slices [][]byte

// ReadAt reads the concatenation of the slices at off.
func (s slices) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	pos := int64(0)
	for _, b := range s {
		end := pos + int64(len(b))
		if off+int64(n) < end && n < len(p) {
			n += copy(p[n:], b[off+int64(n)-pos:])
		}
		pos = end
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// reader is the slices as an io.ReadSeeker.
func (s slices) reader() *io.SectionReader {
	var size int64
	for _, b := range s {
		size += int64(len(b))
	}
	return io.NewSectionReader(s, 0, size)
}
