//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// The soaked binary as a process, and the small disk it records to.

type soakProc struct {
	*binProc
	log *soakLog
}

// startSoakProc runs `bin run -c cfg` and returns once the API at api
// answers /healthz. It is killed at the end of the test if still running.
func startSoakProc(t *testing.T, bin, cfg, api string) *soakProc {
	t.Helper()
	p := &soakProc{log: newSoakLog()}
	p.binProc = startBinary(t, bin, cfg, p.log, 0, p.log.lastLines)
	p.waitReady(t, apiAnswers(api), 20*time.Second, "API answering", p.log.lastLines)
	return p
}

// stop sends SIGTERM, which closes the open segments, and waits for the
// exit.
func (p *soakProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if !p.cmd.ProcessState.Success() {
			t.Errorf("tapedeck after SIGTERM: %v", p.cmd.ProcessState)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("tapedeck did not exit within 30 s of SIGTERM")
	}
}

// soakStorage is the storage directory: a tmpfs of size when this
// process may mount one (root), so that the disk really is small and its
// free space real; else a plain temporary directory, where retention's
// storage.max_bytes alone keeps the recordings small. It says which.
func soakStorage(t *testing.T, size string) (dir, what string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "rec")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		return dir, fmt.Sprintf("a temporary directory (no tmpfs: %v %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir, "a tmpfs of " + size
}

// soakCamera is the GStreamer fragment of a camera at a modest bitrate
// (kbit/s): the presets use x264's and x265's default of 2 Mbit/s, more
// than a 320x240 camera sends and more disk churn than the soak needs.
// H.265 falls back to H.264 when GStreamer has no x265enc.
func soakCamera(t *testing.T, codec string, kbps int) (fragment, used string) {
	t.Helper()
	if codec == "h265" {
		if err := exec.Command("gst-inspect-1.0", "x265enc").Run(); err == nil {
			return fmt.Sprintf("x265enc tune=zerolatency key-int-max=25 speed-preset=ultrafast bitrate=%d ! rtph265pay name=pay0 pt=96 config-interval=-1", kbps), "h265"
		}
		t.Logf("no x265enc in GStreamer: the second camera sends H.264 too")
	}
	testenv.NeedTool(t, "gst-inspect-1.0")
	return fmt.Sprintf("x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast bitrate=%d ! rtph264pay name=pay0 pt=96", kbps), "h264"
}
