//go:build linux

package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// More buffers than one writev takes, of every size, land in order.
func TestVecWriterManyBuffers(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := newVecWriter(f)
	if v == nil {
		t.Fatal("no vecWriter for an *os.File")
	}
	var want []byte
	for i := range 3*iovMax + 7 {
		p := bytes.Repeat([]byte{byte(i)}, i%300)
		want = append(want, p...)
		v.add(p)
	}
	n, err := v.write()
	if err != nil || n != int64(len(want)) {
		t.Fatalf("wrote %d of %d: %v", n, len(want), err)
	}
	if len(v.iov) != 0 {
		t.Fatalf("%d buffers still queued", len(v.iov))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file differs (%d bytes, want %d): %v", len(got), len(want), err)
	}
}

// After a short write the rest goes out from where the kernel stopped,
// inside a buffer or at its end.
func TestVecWriterAdvance(t *testing.T) {
	a, b, c := []byte("abcd"), []byte("ef"), []byte("ghij")
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "abcdefghij"}, {1, "bcdefghij"}, {4, "efghij"}, {5, "fghij"}, {9, "j"}, {10, ""}} {
		var v vecWriter
		v.add(a)
		v.add(b)
		v.add(c)
		var got []byte
		for _, io := range advance(v.iov, tc.n) {
			got = append(got, unsafeBytes(io)...)
		}
		if string(got) != tc.want {
			t.Errorf("advance %d: %q, want %q", tc.n, got, tc.want)
		}
	}
}

func unsafeBytes(io syscall.Iovec) []byte { return unsafe.Slice(io.Base, int(io.Len)) }

// Wrappers of an *os.File (the tests' failing files) keep the buffered path,
// so every byte goes through their Write.
func TestVecWriterOnlyForPlainFiles(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v := newVecWriter(&failFile{File: f, limit: 1}); v != nil {
		t.Fatal("a wrapped file got a vecWriter")
	}
}
