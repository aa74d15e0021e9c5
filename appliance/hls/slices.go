package hls

import (
	"errors"
	"io"
)

// slicesReader reads byte slices one after the other as one seekable
// stream: a segment served from its parts without joining them.
type slicesReader struct {
	parts [][]byte
	size  int64
	off   int64
}

func newSlicesReader(parts [][]byte) *slicesReader {
	r := &slicesReader{parts: parts}
	for _, p := range parts {
		r.size += int64(len(p))
	}
	return r
}

func (r *slicesReader) Read(b []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	pos := int64(0)
	for _, p := range r.parts {
		end := pos + int64(len(p))
		if r.off < end && n < len(b) {
			c := copy(b[n:], p[r.off-pos:])
			n += c
			r.off += int64(c)
		}
		pos = end
	}
	return n, nil
}

func (r *slicesReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("slicesReader: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("slicesReader: negative position")
	}
	r.off = offset
	return offset, nil
}
