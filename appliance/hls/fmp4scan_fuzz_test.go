package hls

import (
	"bytes"
	"io"
	"testing"
)

// FuzzScanFMP4: any file scans without a panic, and what a scan finds
// lies inside the file; the shifted media is as long as the file's media.
func FuzzScanFMP4(f *testing.F) {
	f.Add(fmp4File(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		size := int64(len(b))
		l, err := scanFMP4(bytes.NewReader(b), size)
		if err != nil {
			return
		}
		if l.initEnd <= 0 || l.initEnd > size {
			t.Fatalf("init section ends at %d of %d", l.initEnd, size)
		}
		for _, fd := range l.tfdts {
			n := int64(4)
			if fd.wide {
				n = 8
			}
			if fd.at < l.initEnd || fd.at+n > size {
				t.Fatalf("tfdt field at %d (+%d) outside the media [%d, %d)", fd.at, n, l.initEnd, size)
			}
		}
		sec, err := shiftedSection(bytes.NewReader(b), size, l, 90000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(sec)
		if err != nil || int64(len(got)) != size-l.initEnd {
			t.Fatalf("shifted media: %d bytes, %v; want %d", len(got), err, size-l.initEnd)
		}
	})
}
