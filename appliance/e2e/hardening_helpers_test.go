//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// hardProc is a running tapedeck binary.
type hardProc struct {
	*binProc
	logs     *testenv.SyncBuf
	cfgPath  string
	storage  string
	rtmpAddr string // 127.0.0.1:port
	httpAddr string // 127.0.0.1:port
}

// hardStart runs bin with the config text, in which {rtmp}, {http} and
// {storage} are replaced by free loopback addresses and a fresh storage
// directory. It returns once the HTTP API answers; the process gets
// SIGTERM when the test ends.
func hardStart(t *testing.T, bin, config string) *hardProc {
	t.Helper()
	dir := t.TempDir()
	p := &hardProc{
		logs:     &testenv.SyncBuf{},
		cfgPath:  filepath.Join(dir, "tapedeck.yaml"),
		storage:  filepath.Join(dir, "recordings"),
		rtmpAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		httpAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
	}
	config = strings.NewReplacer("{rtmp}", p.rtmpAddr, "{http}", p.httpAddr, "{storage}", p.storage).Replace(config)
	if err := os.WriteFile(p.cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tail := func() string { return testenv.Tail(p.logs.String(), 60) }
	p.binProc = startBinary(t, bin, p.cfgPath, p.logs, 10*time.Second, tail)
	p.waitReady(t, apiAnswers("http://"+p.httpAddr), 15*time.Second, "API answering", tail)
	return p
}

// hardWaitLog waits until the log holds want, failing after timeout.
func hardWaitLog(t *testing.T, p *hardProc, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("tapedeck did not log %q within %v", want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hardRequest sends one API request and returns the status and body.
func hardRequest(t *testing.T, method, url string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// hardPublisherArgs are ffmpeg arguments publishing seconds of small
// H.264 + AAC to url in real time (extra go before the output URL).
func hardPublisherArgs(url string, seconds int, extra ...string) []string {
	args := []string{
		"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv",
	}
	return append(append(args, extra...), url)
}

// hardRun runs a tool to its end within limit and returns its combined
// output and error.
func hardRun(t *testing.T, limit time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.NeedTool(t, name), args...).CombinedOutput()
	return string(out), err
}

// hardStartTool starts a tool in the background; it is stopped, if still
// running, when the test ends.
func hardStartTool(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testenv.NeedTool(t, name), args...)
	out := &testenv.SyncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, testenv.Tail(out.String(), 20))
		}
	})
	return cmd
}

// hardWaitPublishing waits until the API lists app/stream as publishing.
func hardWaitPublishing(t *testing.T, p *hardProc, path string, headers map[string]string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, body := hardRequest(t, "GET", "http://"+p.httpAddr+"/api/v1/streams/"+path, headers, ""); code == 200 && strings.Contains(body, `"publishing": true`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not publishing after 15s", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hardHandshake does the client side of a plain RTMP handshake on nc by
// hand (C0 C1, S0 S1 S2, C2) and nothing more.
func hardHandshake(nc net.Conn) error {
	const size = 1536
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	defer nc.SetDeadline(time.Time{})
	c0c1 := make([]byte, 1+size)
	c0c1[0] = 3
	for i := 9; i < len(c0c1); i++ {
		c0c1[i] = byte(i * 7)
	}
	if _, err := nc.Write(c0c1); err != nil {
		return err
	}
	s := make([]byte, 1+2*size)
	if _, err := io.ReadFull(nc, s); err != nil {
		return err
	}
	if s[0] != 3 {
		return fmt.Errorf("S0 is %d", s[0])
	}
	_, err := nc.Write(s[1 : 1+size]) // C2 echoes S1
	return err
}

// hardWindowAck is an RTMP Window Acknowledgement Size message on chunk
// stream 2: a control message an idle client can repeat forever.
var hardWindowAck = []byte{0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0x00, 0x26, 0x25, 0xA0}
