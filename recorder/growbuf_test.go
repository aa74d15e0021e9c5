package recorder

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	bytes.Buffer
	n int
}

var errDisk = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.Len()+len(p) <= f.n {
		return f.Buffer.Write(p)
	}
	k := f.n - f.Len()
	f.Buffer.Write(p[:k])
	return k, errDisk
}

// What goes in comes out in order, whatever the write sizes; the buffer
// grows only as far as the writes need and never past max.
func TestGrowWriter(t *testing.T) {
	const max = 48 << 10 // not bufSize: no recorder's buffer in the pool
	var out bytes.Buffer
	w := newGrowWriter(&out, max)
	var in bytes.Buffer
	small := bytes.Repeat([]byte("t"), 11)
	for range 50 { // a short stream: a few hundred bytes
		w.Write(small)
		in.Write(small)
	}
	if c := cap(w.buf); c > minGrow {
		t.Errorf("550 bytes written: buffer of %d bytes, want at most %d", c, minGrow)
	}
	for i, n := range []int{1, 5000, max - 1, max, max + 1, 3 * max, 17, 40000, 40000} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		if k, err := w.Write(p); k != n || err != nil {
			t.Fatalf("Write(%d bytes): %d, %v", n, k, err)
		}
		in.Write(p)
		if cap(w.buf) > max {
			t.Fatalf("buffer grew to %d, past max %d", cap(w.buf), max)
		}
	}
	if err := w.Flush(); err != nil || w.Buffered() != 0 {
		t.Fatalf("Flush: %v, %d left", err, w.Buffered())
	}
	if !bytes.Equal(out.Bytes(), in.Bytes()) {
		t.Errorf("wrote %d bytes, %d came out, or not the same", in.Len(), out.Len())
	}
}

// A failed write sticks, as bufio.Writer's does, and keeps what was not
// written; Reset onto another writer starts clean with the buffer kept.
func TestGrowWriterError(t *testing.T) {
	f := &failAfter{n: 10}
	w := newGrowWriter(f, 16)
	w.Write([]byte("0123456789abcdef")) // fills the buffer exactly
	if err := w.Flush(); !errors.Is(err, errDisk) {
		t.Fatalf("Flush past the disk: %v, want %v", err, errDisk)
	}
	if w.Buffered() != 6 || f.String() != "0123456789" {
		t.Errorf("after a short write: %d buffered, %q written; want 6 and 0123456789", w.Buffered(), f.String())
	}
	if _, err := w.Write(nil); !errors.Is(err, errDisk) {
		t.Errorf("Write(nil) after the error: %v, want it sticky", err)
	}
	if n, err := w.Write([]byte("more")); n != 0 || !errors.Is(err, errDisk) {
		t.Errorf("Write after the error: %d, %v", n, err)
	}
	c := cap(w.buf)
	var next bytes.Buffer
	w.Reset(&next)
	if w.Buffered() != 0 || cap(w.buf) != c {
		t.Errorf("Reset: %d buffered, cap %d; want 0 and the old %d", w.Buffered(), cap(w.buf), c)
	}
	w.Write([]byte("ok"))
	if err := w.Flush(); err != nil || next.String() != "ok" {
		t.Errorf("after Reset: %v, %q", err, next.String())
	}
	// A write larger than the buffer with the buffer empty goes straight
	// through, and its failure sticks too.
	w.Reset(&failAfter{n: 3})
	if n, err := w.Write(bytes.Repeat([]byte("x"), 40)); n != 3 || !errors.Is(err, errDisk) {
		t.Errorf("large write onto a failing disk: %d, %v", n, err)
	}
	w.Reset(io.Discard)
}

// An idle writer holds no max-size buffer: a Flush that empties it gives
// it to the next writer that needs one, so recorders that flush after
// every fragment share a few buffers instead of holding one each.
func TestGrowWriterSharesFullBuffers(t *testing.T) {
	const max = 40 << 10 // a pool of its own
	var out bytes.Buffer
	a, b := newGrowWriter(&out, max), newGrowWriter(&out, max)
	chunk := bytes.Repeat([]byte("f"), 10<<10)
	// 40 KiB: the buffer grows to max. (A fifth chunk would flush it into
	// the pool and take it back, which the race detector's sync.Pool may
	// refuse at random.)
	for range 4 {
		a.Write(chunk)
	}
	if cap(a.buf) != max {
		t.Fatalf("buffer of %d bytes after 50 KiB, want max %d", cap(a.buf), max)
	}
	full := &a.buf[:1][0]
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if a.buf != nil || a.Buffered() != 0 {
		t.Errorf("flushed writer still holds a %d-byte buffer", cap(a.buf))
	}
	b.Write(chunk)
	if !raceEnabled && (cap(b.buf) != max || &b.buf[:1][0] != full) {
		t.Errorf("next writer got a %d-byte buffer, want the flushed writer's %d-byte one", cap(b.buf), max)
	}
	b.Flush()
	if out.Len() != 50<<10 {
		t.Errorf("%d bytes came out, want %d", out.Len(), 50<<10)
	}
	if !raceEnabled {
		c := newGrowWriter(io.Discard, max)
		allocs := testing.AllocsPerRun(20, func() {
			for range 5 {
				c.Write(chunk)
			}
			c.Flush()
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per pooled fragment, want 0", allocs)
		}
	}
}
