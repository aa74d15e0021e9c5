package recorder

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// damagedFiles writes, under dir/live/cam1, an ffmpeg FLV and a
// fragmented MP4 made from it, each whole and with a header in the middle
// broken (an FLV tag's type; an MP4 box nested in a moof), where the
// start-up check of file ends does not look. It returns the files and
// their contents.
func damagedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	src := mediaFile(t, "av")
	flv, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tags := readFLV(t, src)
	badFLV := bytes.Clone(flv)
	badFLV[tags[len(tags)/2].pos] = 0x3f // not a tag type
	mp4 := filepath.Join(t.TempDir(), "frag.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-c", "copy",
		"-movflags", "+frag_keyframe+empty_moov", "-f", "mp4", mp4).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	goodMP4, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	badMP4 := bytes.Clone(goodMP4)
	var moofs []int
	for p := 0; p+8 <= len(goodMP4); {
		n := int(binary.BigEndian.Uint32(goodMP4[p:]))
		if string(goodMP4[p+4:p+8]) == "moof" {
			moofs = append(moofs, p)
		}
		if n < 8 {
			t.Fatalf("ffmpeg's MP4: box size %d at %d", n, p)
		}
		p += n
	}
	if len(moofs) < 3 {
		t.Fatalf("ffmpeg's MP4 has %d fragments, want several", len(moofs))
	}
	// moof > mfhd (16 bytes) > traf > tfhd: tfhd's size overruns traf.
	tfhd := moofs[len(moofs)/2] + 8 + 16 + 8
	if string(badMP4[tfhd+4:tfhd+8]) != "tfhd" {
		t.Fatalf("no tfhd where expected: %q", badMP4[tfhd+4:tfhd+8])
	}
	binary.BigEndian.PutUint32(badMP4[tfhd:], 0x00ffffff)
	files := map[string][]byte{
		"2026-01-01_00-00-00.flv": flv,
		"2026-01-01_00-01-00.flv": badFLV,
		"2026-01-01_00-02-00.mp4": goodMP4,
		"hand-placed.mp4":         badMP4,
	}
	sub := filepath.Join(dir, "live", "cam1")
	os.MkdirAll(sub, 0o755)
	out := map[string][]byte{}
	for name, b := range files {
		p := filepath.Join(sub, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// lockedBuf is a log destination for tests.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Damage in the middle of closed files is found by the background check
// (not by the start-up check of file ends), reported, remembered across
// restarts (no second read, no second log line) and never written.
func TestDamageScannerMidFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := damagedFiles(t, dir)
	bad := map[string]bool{}
	for p := range files {
		bad[p] = strings.Contains(p, "00-01-00") || strings.Contains(p, "hand-placed")
		info, _ := os.Stat(p)
		if why, damaged := checkClosed(p, info); damaged {
			t.Errorf("%s: the start-up check finds %q; this test wants damage only it misses", filepath.Base(p), why)
		}
	}
	var log lockedBuf
	logger := slog.New(slog.NewTextHandler(&log, nil))
	start := func() *DamageScanner {
		d := NewDamageScanner(dir, nil, logger)
		d.Rate = 1 << 30
		d.Now = func() time.Time { return time.Now().Add(time.Minute) } // files just put there count as closed
		return d
	}
	d := start()
	if n, damaged := d.Pass(context.Background()); n != 4 || damaged != 2 {
		t.Fatalf("first pass: %d files checked, %d damaged; want 4, 2\n%s", n, damaged, log.String())
	}
	for restart := range 2 {
		d = start()
		if n, _ := d.Pass(context.Background()); n != 0 {
			t.Errorf("restart %d: %d files read again", restart+1, n)
		}
		found, err := RecoverSkipping(dir, time.Now(), 0, d.Known)
		if err != nil || len(found) != 0 {
			t.Errorf("restart %d: start-up recovery reports %v (%v)", restart+1, found, err)
		}
	}
	for p, b := range files {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		why, damaged := d.Damaged(p, info.Size(), info.ModTime())
		if damaged != bad[p] {
			t.Errorf("%s: damaged %v (%q), want %v", filepath.Base(p), damaged, why, bad[p])
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
			t.Errorf("%s changed", filepath.Base(p))
		}
		if n := strings.Count(log.String(), filepath.Base(p)); n != map[bool]int{true: 1}[bad[p]] {
			t.Errorf("%s: in %d log lines across two restarts:\n%s", filepath.Base(p), n, log.String())
		}
	}
	// A file that changes is checked again.
	for p := range files {
		if !bad[p] && strings.HasSuffix(p, ".flv") {
			os.Chtimes(p, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
		}
	}
	if n, _ := start().Pass(context.Background()); n != 1 {
		t.Errorf("after a file changed: %d files checked, want 1", n)
	}
}

// A torn last journal line (a power cut) costs one check again, nothing
// else; files being written or just written are left for later.
func TestDamageScannerJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "live", "cam1", "2026-01-01_00-00-00.flv")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, synthFLVTags(20), 0o644)
	q := filepath.Join(dir, "live", "cam1", "2026-01-01_00-01-00.flv")
	os.WriteFile(q, synthFLVTags(20), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	logger := slog.New(slog.NewTextHandler(&lockedBuf{}, nil))
	d := NewDamageScanner(dir, func(s string) bool { return s == q }, logger)
	if n, _ := d.Pass(context.Background()); n != 1 {
		t.Fatalf("checked %d, want 1 (the other is being written)", n)
	}
	j := filepath.Join(dir, CheckJournalName)
	f, _ := os.OpenFile(j, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"path":"live/cam1/2026-01-01_00-01-00.flv","si`)
	f.Close()
	d = NewDamageScanner(dir, nil, logger)
	if n, _ := d.Pass(context.Background()); n != 0 {
		t.Errorf("after a torn line: checked %d, want 0 (q was written just now)", n)
	}
	os.Chtimes(q, old, old)
	if n, _ := d.Pass(context.Background()); n != 1 {
		t.Errorf("checked %d, want 1", n)
	}
}

// synthFLVTags is an FLV of n small well-formed video tags.
func synthFLVTags(n int) []byte {
	b := []byte("FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00")
	for i := range n {
		body := bytes.Repeat([]byte{0x27, 0x01, 0, 0, 0, byte(i)}, 4)
		ts := uint32(i * 40)
		b = append(b, 9, 0, 0, byte(len(body)), byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
		b = append(b, body...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+len(body)))
	}
	return b
}

// What tapedeck records, in every format, and a progressive MP4 of
// ffmpeg's, are whole: no false alarm.
func TestCheckWholeRecorded(t *testing.T) {
	t.Parallel()
	tags := readFLV(t, mediaFile(t, "av"))
	var paths []string
	for _, format := range []string{FormatFLV, FormatFMP4, FormatMP4} {
		dir := t.TempDir()
		segs, _ := record(t, messages(tags), Config{Dir: dir, Format: format, SegmentDuration: 2 * time.Second})
		for _, s := range segs {
			paths = append(paths, s.Path)
		}
	}
	mp4 := filepath.Join(t.TempDir(), "progressive.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", mediaFile(t, "av"), "-c", "copy", "-movflags", "+faststart", mp4).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	paths = append(paths, mp4)
	if len(paths) < 7 {
		t.Fatalf("%d files recorded", len(paths))
	}
	for _, p := range paths {
		if why, bad, err := checkWhole(p); bad || err != nil {
			t.Errorf("%s: damaged %q (%v)", p, why, err)
		}
	}
}

// The journal keeps one line per file there: lines of deleted files go
// when they are most of it.
func TestDamageScannerCompacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "live", "cam1")
	os.MkdirAll(sub, 0o755)
	old := time.Now().Add(-time.Hour)
	var paths []string
	for i := range 80 {
		p := filepath.Join(sub, fmt.Sprintf("2026-01-01_00-%02d-00.flv", i))
		os.WriteFile(p, synthFLVTags(3), 0o644)
		os.Chtimes(p, old, old)
		paths = append(paths, p)
	}
	d := NewDamageScanner(dir, nil, slog.New(slog.NewTextHandler(&lockedBuf{}, nil)))
	d.Rate = 1 << 30
	if n, _ := d.Pass(context.Background()); n != 80 {
		t.Fatalf("checked %d, want 80", n)
	}
	for _, p := range paths[10:] {
		os.Remove(p)
	}
	d.Pass(context.Background())
	b, err := os.ReadFile(filepath.Join(dir, CheckJournalName))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 10 {
		t.Errorf("journal has %d lines after 70 of 80 files went, want 10", n)
	}
	if n, _ := NewDamageScanner(dir, nil, d.log).Pass(context.Background()); n != 0 {
		t.Errorf("after the compaction: %d files checked again", n)
	}
}

// FuzzCheckMP4Nested: any bytes give an answer, without a panic or a read
// outside the file (the walk trusts no box size).
func FuzzCheckMP4Nested(f *testing.F) {
	ftyp := box("ftyp", []byte("isom"))
	f.Add(append(ftyp, box("moov", box("trak", box("tkhd", make([]byte, 8))), box("mvex"))...))
	f.Add(append(ftyp, box("moof", box("mfhd", make([]byte, 8)), box("traf", []byte{0, 0, 0, 0xff, 't', 'f', 'h', 'd'}))...))
	f.Add(largeBox("moov", box("trak")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &strictReader{data: data, t: t}
		why, bad, err := checkMP4Nested(r, 0, int64(len(data)), 0)
		if err != nil || (bad && why == "") {
			t.Fatalf("checkMP4Nested = %q, %v, %v", why, bad, err)
		}
	})
}

// The whole-file check goes through a file no faster than its rate, and
// stops when its context ends (a shutdown does not wait for it).
func TestCheckWholePaced(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "a.flv")
	data := synthFLVTags(2000)
	os.WriteFile(p, data, 0o644)
	rate := int64(len(data)) * 2 // half a second's worth
	t0 := time.Now()
	if why, bad, err := checkWholePaced(context.Background(), p, rate); bad || err != nil {
		t.Fatalf("damaged %q (%v)", why, err)
	}
	if d := time.Since(t0); d < 350*time.Millisecond {
		t.Errorf("checked %d bytes at %d B/s in %v, want about 500 ms", len(data), rate, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	if _, _, err := checkWholePaced(ctx, p, int64(len(data))/10); err == nil {
		t.Errorf("a 10 s check was not stopped by its context")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("stopping took %v", d)
	}
}
