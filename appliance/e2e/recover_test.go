package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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
	for !strings.Contains(logBuf.String(), `msg="rtmp listening"`) {
		select {
		case err := <-done:
			t.Fatalf("tapedeck exited at start (%v):\n%s", err, logBuf.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("tapedeck did not listen within 20 s:\n%s", logBuf.String())
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

// Start-up recovery, twice over the same storage: a hand-placed FLV with
// a damaged tag and a closed one cut short are byte-identical afterwards
// (the cut one is reported damaged, once per start); a segment left open
// by a crashed run (its marker beside it) is repaired at the first start
// and the second start reports nothing about it.
func TestRecoveryOnlyRepairsSegmentsLeftOpen(t *testing.T) {
	storage := t.TempDir()
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	full := synthFLV(100)
	badTag := bytes.Clone(full)
	badTag[13+(11+120+4)*50] = 0x3f // the 51st tag's type: not a tag
	closedCut := full[:len(full)-70]
	crashed := full[:len(full)-70]
	files := map[string][]byte{
		"hand-placed.flv":         badTag,
		"2026-01-01_00-00-00.flv": closedCut,
		"2026-01-02_00-00-00.flv": crashed,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	crashedPath := filepath.Join(dir, "2026-01-02_00-00-00.flv")
	if err := os.WriteFile(crashedPath+recorder.OpenMarkerSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	first := startAndStop(t, storage)
	if n := strings.Count(first, `msg="recording recovered after a crash"`); n != 1 || !strings.Contains(first, "2026-01-02_00-00-00.flv action=truncated") {
		t.Errorf("first start: %d recoveries logged, want the crashed segment truncated:\n%s", n, first)
	}
	if n := strings.Count(first, `msg="damaged recording left as is"`); n != 1 || !strings.Contains(first, "2026-01-01_00-00-00.flv action=damaged") {
		t.Errorf("first start: %d damaged logged, want the closed cut segment:\n%s", n, first)
	}
	if b, _ := os.ReadFile(crashedPath); !bytes.Equal(b, full[:len(full)-(11+120+4)]) {
		t.Errorf("crashed segment: %d bytes after recovery, want %d", len(b), len(full)-(11+120+4))
	}
	second := startAndStop(t, storage)
	if strings.Contains(second, "recording recovered") {
		t.Errorf("second start repaired again:\n%s", second)
	}
	for name, data := range files {
		if name == "2026-01-02_00-00-00.flv" {
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(b, data) {
			t.Errorf("%s changed by recovery: %d bytes, was %d", name, len(b), len(data))
		}
	}
	if _, err := os.Stat(crashedPath + recorder.OpenMarkerSuffix); !os.IsNotExist(err) {
		t.Errorf("open marker still there: %v", err)
	}

	// The API says which file start-up found damaged, and only that one.
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings?app=live&stream=cam1", "")
	var list []struct{ Path, Recovery, RecoveryDetail string }
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil {
		t.Fatalf("list: %d %v %s", code, err, out)
	}
	for _, r := range list {
		want := ""
		if r.Path == "live/cam1/2026-01-01_00-00-00.flv" {
			want = recorder.RecoveredDamaged
		}
		if r.Recovery != want {
			t.Errorf("%s: recovery %q (%q), want %q", r.Path, r.Recovery, r.RecoveryDetail, want)
		}
	}
}
