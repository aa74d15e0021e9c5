//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// built is the tapedeck binary, made once per test binary: a go build
// takes long on a loaded machine, and every test runs the same one.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// tapedeckBinary returns the path of the tapedeck binary, built by go
// build into a directory other users may read and enter (a test runs it
// as an unprivileged user). TestMain removes it.
func tapedeckBinary(t testing.TB) string {
	t.Helper()
	goBin := testenv.NeedTool(t, "go") // go test puts its own GOROOT/bin first in PATH
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "tapedeck-e2e-bin-")
		if err == nil {
			built.dir = dir
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			built.err = err
			return
		}
		exe := filepath.Join(dir, "tapedeck")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, goBin, "build", "-o", exe, "github.com/tapedeck/tapedeck").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = exe
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// binProc is the tapedeck binary running as `tapedeck run -c CONFIG`.
type binProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startBinary starts bin on cfg with its output to out. When the test
// ends the process is stopped — SIGTERM and up to grace to exit, or at
// once with SIGKILL when grace is 0 — and, if the test failed, what tail
// returns is logged.
func startBinary(t *testing.T, bin, cfg string, out io.Writer, grace time.Duration, tail func() string) *binProc {
	t.Helper()
	p := &binProc{cmd: exec.Command(bin, "run", "-c", cfg), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if grace > 0 {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
			}
		}
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tapedeck log:\n%s", tail())
		}
	})
	return p
}

// waitReady polls ready until it holds; the test fails if the process
// exits first or timeout passes (what names the awaited state).
func (p *binProc) waitReady(t *testing.T, ready func() bool, timeout time.Duration, what string, tail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.done:
			t.Fatalf("tapedeck exited at start (%v):\n%s", p.cmd.ProcessState, tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tapedeck: %s not within %v:\n%s", what, timeout, tail())
		}
	}
}

// exited reports whether the process has ended.
func (p *binProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// apiAnswers is a waitReady condition: the HTTP API at base answers
// /healthz.
func apiAnswers(base string) func() bool {
	return func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}
}
