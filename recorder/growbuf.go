package recorder

import (
	"io"
	"sync"
)

// minGrow is the smallest buffer a growWriter allocates.
const minGrow = 4 << 10

// growWriter is the part of bufio.Writer the segment writers use (Write,
// Flush, Buffered, Reset, a sticky error), with a buffer that grows with
// what is written, up to max, instead of being allocated at max: a
// recorder costs bufSize (64 KiB) only once its stream writes that much
// between flushes. A stream published for a moment, or one waiting out
// its republish grace, holds a few KiB; 1,000 names coming and going at
// once no longer hold 64 MiB, which the Go runtime keeps as RSS long
// after they are gone.
//
// A buffer grown to max goes back to a shared pool whenever a Flush empties
// it, and comes back with the next Write: an fMP4 recorder flushes after
// every fragment, so its 64 KiB are in use only while a fragment is
// written, and 16 recorded streams share a few buffers instead of holding
// one each.
type growWriter struct {
	w      io.Writer
	buf    []byte
	pooled *[]byte // buf's box while buf is a pooled max-size buffer
	full   *sync.Pool
	max    int
	err    error
}

// fullBufs holds max-size buffers of idle growWriters, by max.
var fullBufs sync.Map // int -> *sync.Pool of *[]byte

func newGrowWriter(w io.Writer, max int) *growWriter {
	p, _ := fullBufs.LoadOrStore(max, new(sync.Pool))
	return &growWriter{w: w, max: max, full: p.(*sync.Pool)}
}

// Write buffers p, flushing whenever the buffer would pass max; a write
// at least max long with an empty buffer goes straight through. After an
// error every Write and Flush returns it, until Reset.
func (b *growWriter) Write(p []byte) (int, error) {
	n := 0
	for b.err == nil && len(b.buf)+len(p) > b.max {
		if len(b.buf) == 0 {
			m, err := b.w.Write(p)
			if err == nil && m < len(p) {
				err = io.ErrShortWrite
			}
			b.err = err
			return n + m, err
		}
		k := b.max - len(b.buf)
		b.append(p[:k])
		n, p = n+k, p[k:]
		b.Flush()
	}
	if b.err != nil {
		return n, b.err
	}
	b.append(p)
	return n + len(p), nil
}

// append adds p, which fits under max, growing the buffer by doubling.
func (b *growWriter) append(p []byte) {
	if b.buf == nil && len(p) > 0 && b.pooled == nil {
		b.takeFull()
	}
	if need := len(b.buf) + len(p); need > cap(b.buf) {
		c := max(2*cap(b.buf), need, minGrow)
		nb := make([]byte, len(b.buf), min(c, max(b.max, need)))
		copy(nb, b.buf)
		b.buf = nb
	}
	b.buf = append(b.buf, p...)
}

// Flush writes the buffer out; what a failed write left is kept.
func (b *growWriter) Flush() error {
	if b.err != nil || len(b.buf) == 0 {
		return b.err
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 && n < len(b.buf) {
			b.buf = b.buf[:copy(b.buf, b.buf[n:])]
		}
		b.err = err
		return err
	}
	b.buf = b.buf[:0]
	if cap(b.buf) == b.max {
		b.giveFull()
	}
	return nil
}

// giveFull returns the empty max-size buffer to the pool.
func (b *growWriter) giveFull() {
	if b.pooled == nil {
		b.pooled = new([]byte)
	}
	*b.pooled = b.buf[:0]
	b.full.Put(b.pooled)
	b.buf, b.pooled = nil, nil
}

// takeFull takes a max-size buffer from the pool, if one is there; the
// buffer then grows as before.
func (b *growWriter) takeFull() {
	if bp, ok := b.full.Get().(*[]byte); ok {
		b.buf, b.pooled = (*bp)[:0], bp
	}
}

// Buffered is the number of bytes not yet written out.
func (b *growWriter) Buffered() int { return len(b.buf) }

// Reset drops what is buffered and the error and writes to w from now
// on, keeping the buffer grown so far (the next segment of a busy stream
// needs it again).
func (b *growWriter) Reset(w io.Writer) {
	b.w, b.buf, b.err = w, b.buf[:0], nil
}
