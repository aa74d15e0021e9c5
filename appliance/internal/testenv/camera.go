package testenv

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cameraScript serves a live test pattern over RTSP with GStreamer's RTSP
// server (see its docstring for the arguments).
//
//go:embed camera.py
var cameraScript []byte

// Camera is a running GStreamer RTSP server: an IP camera we did not write.
type Camera struct {
	URL  string // rtsp://127.0.0.1:port/cam, without credentials
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCamera serves rtsp://127.0.0.1:port/cam: a 320x240 25 fps test
// pattern and AAC audio. video is "h264", "h265", or a gst-launch fragment
// from raw video to a payloader named pay0 (for encoder settings the
// presets lack). With user and password, Digest authentication is
// required. The camera is killed when the test ends, or by Stop.
func StartCamera(t testing.TB, port int, video string, auth ...string) *Camera {
	t.Helper()
	py := Python(t)
	script := filepath.Join(t.TempDir(), "camera.py")
	if err := os.WriteFile(script, cameraScript, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{script, fmt.Sprint(port), video}, auth...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr SyncBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Camera{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(c.Stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		c.Stop()
		t.Fatalf("camera did not start: %q %v\n%s", line, err, Tail(stderr.String(), 20))
	}
	go io.Copy(io.Discard, out)
	return c
}

// Pid is the camera process's id, for a test that freezes it (SIGSTOP)
// as a starved camera would be.
func (c *Camera) Pid() int { return c.cmd.Process.Pid }

// Stop kills the camera, as a power cut would, and waits for it to exit.
func (c *Camera) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Kill()
	<-c.done
}

// Python returns a python3 that has GStreamer's RTSP server bindings (see
// Need).
func Python(t testing.TB) string {
	t.Helper()
	var err error
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		var path string
		if path, err = exec.LookPath(p); err == nil {
			check := exec.Command(path, "-c", "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer")
			if err = check.Run(); err == nil {
				return path
			}
		}
	}
	Need(t, "python3-gi with GstRtspServer (apt: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly)", err)
	return ""
}
