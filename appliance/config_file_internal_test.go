package appliance

import (
	"os"
	"strings"
	"testing"
	"time"
)

// fakeFileInfo is what a stat returns for a file being written.
type fakeFileInfo struct {
	os.FileInfo
	size int64
	mod  time.Time
}

func (f fakeFileInfo) Size() int64        { return f.size }
func (f fakeFileInfo) ModTime() time.Time { return f.mod }

// A file that grows during the read is read again until the read is whole.
func TestReadWholeRetriesWhileTheFileChanges(t *testing.T) {
	full := "http:\n  token: t0ken\n"
	t0 := time.Unix(1000, 0)
	reads, stats := 0, 0
	// The first read sees half a save; the stat after it, the whole file.
	stat := func(string) (os.FileInfo, error) {
		stats++
		if stats == 1 {
			return fakeFileInfo{size: 5, mod: t0}, nil
		}
		return fakeFileInfo{size: int64(len(full)), mod: t0.Add(time.Second)}, nil
	}
	read := func(string) ([]byte, error) {
		reads++
		if reads == 1 {
			return []byte(full[:5]), nil
		}
		return []byte(full), nil
	}
	data, err := readWhole("x.yaml", stat, read, 0)
	if err != nil || string(data) != full || reads != 2 {
		t.Fatalf("readWhole = %q, %v after %d reads; want the whole file after 2", data, err, reads)
	}
}

// A file that never settles is not loaded at all.
func TestReadWholeGivesUp(t *testing.T) {
	n := int64(0)
	stat := func(string) (os.FileInfo, error) { n++; return fakeFileInfo{size: n, mod: time.Unix(n, 0)}, nil }
	read := func(string) ([]byte, error) { return []byte("x"), nil }
	if data, err := readWhole("x.yaml", stat, read, 0); err == nil || !strings.Contains(err.Error(), "changed during each of 5 reads") {
		t.Fatalf("readWhole of a file that keeps changing = %q, %v", data, err)
	}
}
