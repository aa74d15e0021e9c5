//go:build linux

package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
)

// synthFLV is an FLV file of n small video tags (enough structure for
// recovery, not meant to decode).
func synthFLV(n int) []byte {
	b := []byte("FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00")
	for i := range n {
		body := bytes.Repeat([]byte{0x27, 0x01, 0, 0, 0, byte(i)}, 20)
		if i%25 == 0 {
			body[0] = 0x17
		}
		ts := uint32(i * 40)
		b = append(b, 9, byte(len(body)>>16), byte(len(body)>>8), byte(len(body)),
			byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
		b = append(b, body...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+len(body)))
	}
	return b
}

// startAndStop runs the built binary on storage until it listens, stops
// it with SIGTERM, and returns its log: start-up recovery is all that
// runs, which is what the recovery tests here and in record_test.go look
// at — against the binary a user runs, over files put there by hand.
func startAndStop(t *testing.T, storage string) string {
	t.Helper()
	return startAndStopAfter(t, storage, `msg="rtmp listening"`)
}

// startAndStopAfter is startAndStop that waits for the log to say want.
func startAndStopAfter(t *testing.T, storage, want string) string {
	t.Helper()
	bin := tapedeckBinary(t)
	cfg := filepath.Join(t.TempDir(), "tapedeck.yaml")
	conf := "rtmp:\n  listen: 127.0.0.1:0\nhttp:\n  listen: \"\"\nstorage:\n  dir: " + storage + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logBuf testenv.SyncBuf
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logBuf.String(), `msg="rtmp listening"`) || !strings.Contains(logBuf.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("tapedeck exited at start (%v):\n%s", err, logBuf.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("tapedeck did not log %s within 20 s:\n%s", want, logBuf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tapedeck after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Errorf("tapedeck did not exit within 15 s of SIGTERM")
	}
	return logBuf.String()
}

// Start-up recovery and the background check of closed recordings, over
// three starts of the built binary: a segment left open by a crashed run
// (its marker beside it) is repaired at the first start and never again;
// closed files that are damaged — a hand-placed FLV with a bad tag and an
// MP4 with a bad box in the middle (only the whole-file check finds
// those), and a closed FLV cut short (the start-up check of file ends
// finds that) — are byte-identical after every start, logged once across
// all three, and reported damaged in the API.
func TestRecoveryOnlyRepairsSegmentsLeftOpen(t *testing.T) {
	ffmpeg := testenv.NeedTool(t, "ffmpeg")
	storage := t.TempDir()
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	full := synthFLV(100)
	badTag := bytes.Clone(full)
	badTag[13+(11+120+4)*50] = 0x3f // the 51st tag's type: not a tag
	closedCut := full[:len(full)-70]
	crashed := full[:len(full)-70]
	mp4 := filepath.Join(t.TempDir(), "frag.mp4")
	if out, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-movflags", "+frag_keyframe+empty_moov", mp4).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	badBox, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	breakMiddleFragment(t, badBox)
	files := map[string][]byte{
		"hand-placed.flv":         badTag,
		"hand-placed.mp4":         badBox,
		"2026-01-01_00-00-00.flv": closedCut,
		"2026-01-02_00-00-00.flv": crashed,
	}
	damaged := []string{"hand-placed.flv", "hand-placed.mp4", "2026-01-01_00-00-00.flv"}
	// Written an hour ago: the background check leaves files written in
	// the last seconds for later (they may be someone's being copied).
	old := time.Now().Add(-time.Hour)
	put := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	for name, data := range files {
		put(name, data)
	}
	crashedPath := filepath.Join(dir, "2026-01-02_00-00-00.flv")
	if err := os.WriteFile(crashedPath+recorder.OpenMarkerSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	first := startAndStopAfter(t, storage, `msg="recordings checked for damage"`)
	if n := strings.Count(first, `msg="recording recovered after a crash"`); n != 1 || !strings.Contains(first, "2026-01-02_00-00-00.flv action=truncated") {
		t.Errorf("first start: %d recoveries logged, want the crashed segment truncated:\n%s", n, first)
	}
	if b, _ := os.ReadFile(crashedPath); !bytes.Equal(b, full[:len(full)-(11+120+4)]) {
		t.Errorf("crashed segment: %d bytes after recovery, want %d", len(b), len(full)-(11+120+4))
	}
	logs := first
	// Each restart gets a new good file, whose check shows that the
	// restart's background pass ran, and passed over the others.
	for i := range 2 {
		put(fmt.Sprintf("2026-01-03_00-00-0%d.flv", i), full)
		again := startAndStopAfter(t, storage, `msg="recordings checked for damage"`)
		if strings.Contains(again, "recording recovered") || !strings.Contains(again, "files=1 damaged=0") {
			t.Errorf("restart %d: repaired again, or checked other files than the new one:\n%s", i+1, again)
		}
		logs += again
	}
	if n := strings.Count(logs, `msg="damaged recording left as is"`); n != len(damaged) {
		t.Errorf("%d damaged files logged over three starts, want %d, once each:\n%s", n, len(damaged), logs)
	}
	for _, name := range damaged {
		if n := strings.Count(logs, name+" action=damaged"); n != 1 {
			t.Errorf("%s: logged damaged %d times over three starts, want 1", name, n)
		}
	}
	for name, data := range files {
		if name == "2026-01-02_00-00-00.flv" {
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(b, data) {
			t.Errorf("%s changed: %d bytes, was %d", name, len(b), len(data))
		}
	}
	if _, err := os.Stat(crashedPath + recorder.OpenMarkerSuffix); !os.IsNotExist(err) {
		t.Errorf("open marker still there: %v", err)
	}

	// The API says which files are damaged, and only those, at once on a
	// fourth start (from what the earlier ones found).
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings?app=live&stream=cam1", "")
	var list []struct{ Path, Recovery, Damaged string }
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil || len(list) != 6 {
		t.Fatalf("list: %d %v %s", code, err, out)
	}
	for _, r := range list {
		want := slices.Contains(damaged, filepath.Base(r.Path))
		if (r.Damaged != "") != want || (r.Recovery == recorder.RecoveredDamaged) != want {
			t.Errorf("%s: damaged %q, recovery %q; want damaged %v", r.Path, r.Damaged, r.Recovery, want)
		}
	}
}

// breakMiddleFragment makes the first box inside the traf of the middle
// moof of a fragmented MP4 overrun its parent: the top-level boxes stay
// sound.
func breakMiddleFragment(t *testing.T, b []byte) {
	t.Helper()
	var moofs []int
	for p := 0; p+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		if n < 8 {
			t.Fatalf("MP4: box size %d at %d", n, p)
		}
		if string(b[p+4:p+8]) == "moof" {
			moofs = append(moofs, p)
		}
		p += n
	}
	if len(moofs) < 3 {
		t.Fatalf("MP4 has %d fragments, want several", len(moofs))
	}
	tfhd := moofs[len(moofs)/2] + 8 + 16 + 8 // moof > mfhd (16 bytes), traf > tfhd
	if string(b[tfhd+4:tfhd+8]) != "tfhd" {
		t.Fatalf("no tfhd where expected: %q", b[tfhd+4:tfhd+8])
	}
	binary.BigEndian.PutUint32(b[tfhd:], 0x00ffffff)
}
