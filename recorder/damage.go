package recorder

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkClosed checks, read-only, that a closed recording ends where its
// structure says, and returns why not. It is what Recover does for files
// it must not change, at start-up over the whole storage: so for FLV it
// reads only the header and the last tag (found through the final
// PreviousTagSize), walking every tag only when that back-pointer does not
// match (muxers that write it wrong, or a damaged end). It finds what
// crashes, full disks and copies cut short leave; damage in the middle of
// an otherwise complete file is left to checkWhole (DamageScanner).
func checkClosed(path string, info fs.FileInfo) (why string, damaged bool) {
	f, err := os.Open(path)
	if err != nil {
		return err.Error(), true
	}
	defer f.Close()
	size := info.Size()
	if size == 0 {
		return "empty file", true
	}
	if strings.EqualFold(filepath.Ext(path), ".flv") {
		return checkClosedFLV(f, size)
	}
	cut, why, err := scanMP4(f, size)
	if err != nil {
		return err.Error(), true
	}
	if cut < size {
		return fmt.Sprintf("playable up to byte %d of %d: %s", cut, size, why), true
	}
	return "", false
}

func checkClosedFLV(r io.ReaderAt, size int64) (string, bool) {
	start, err := flvDataStart(r, size)
	if err != nil {
		return err.Error(), true
	}
	if flvEndsInTag(r, start, size) {
		return "", false
	}
	var sc flvScan
	if err := sc.scan(r, size); err != nil {
		return err.Error(), true
	}
	if sc.end < size {
		return fmt.Sprintf("playable up to byte %d of %d: %s", sc.end, size, sc.why), true
	}
	return "", false
}

// flvEndsInTag reports whether the file's last PreviousTagSize points back
// at a valid tag header whose size matches, i.e. the file ends in a
// complete tag. A file of the header alone ends well too.
func flvEndsInTag(r io.ReaderAt, start, size int64) bool {
	if size == start {
		return true
	}
	var b [11]byte
	if _, err := r.ReadAt(b[:4], size-4); err != nil {
		return false
	}
	n := int64(binary.BigEndian.Uint32(b[:4]))
	p := size - 4 - n
	if n < 11 || p < start {
		return false
	}
	if _, err := r.ReadAt(b[:], p); err != nil {
		return false
	}
	kind := b[0]
	if kind&0xC0 != 0 || (kind&0x1F != 8 && kind&0x1F != 9 && kind&0x1F != 18) {
		return false
	}
	dsize := int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	return 11+dsize == n
}
