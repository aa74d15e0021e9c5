package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/rtmp"
)

// The tapedeck binary itself, run as a process: serving, reloading on
// SIGHUP and stopping on SIGTERM; refusing to install without the rights.

// goodConfig is a config that loads; the binary is never asked to serve it.
const goodConfig = "rtmp:\n  listen: \"127.0.0.1:1940\"\nlog:\n  level: warn\n"

// openTempDir returns a temporary directory that other users may read,
// for a binary and config run as an unprivileged user.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCLIBinary(t *testing.T) {
	t.Parallel()
	exe := tapedeckBinary(t)
	t.Run("RunReloadTerm", func(t *testing.T) {
		t.Parallel()
		runReload(t, exe)
	})
	t.Run("InstallUnprivileged", func(t *testing.T) {
		t.Parallel()
		installUnprivileged(t, exe)
	})
}

// runReload runs `tapedeck run -c FILE` as a process: it serves,
// reloads on SIGHUP (and on a file change), refuses an invalid file while
// keeping the running config, and exits 0 on SIGTERM.
func runReload(t *testing.T, exe string) {
	addr := testenv.FreeAddr(t)
	path := filepath.Join(t.TempDir(), "tapedeck.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := "rtmp:\n  listen: \"" + addr + "\"\nhttp:\n  listen: \"\"\nstorage:\n  dir: " + t.TempDir() + "\n"
	write(base + "apps:\n  live:\n    gop_cache: true\n")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "run", "-c", path)
	logs := &testenv.SyncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("tapedeck log:\n%s", logs.String())
		}
	})

	logs.WaitLine(t, 10*time.Second, "rtmp listening", "addr="+addr, "config="+path)
	dial := func(app string) error {
		t.Helper()
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		c, _, err := rtmp.Dial(dctx, "rtmp://"+addr+"/"+app+"/x", rtmp.ClientConfig{Timeout: 5 * time.Second})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("live"); err != nil {
		t.Fatalf("connect to live: %v", err)
	}
	if err := dial("cam"); err == nil || !strings.Contains(err.Error(), "NetConnection.Connect.Rejected") {
		t.Fatalf("connect to cam before it is configured: %v, want Connect.Rejected", err)
	}
	reloaded := func() int { return strings.Count(logs.String(), "configuration reloaded") }

	// SIGHUP with the file unchanged: the watcher has nothing to report, so
	// this reload is the signal's.
	cmd.Process.Signal(syscall.SIGHUP)
	logs.WaitLine(t, 5*time.Second, "configuration reloaded", "apps=1")

	// Add an app and SIGHUP: the app is served without a restart.
	n := reloaded()
	write(base + "apps:\n  live:\n    gop_cache: true\n  cam:\n    gop_cache: true\n")
	cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 5*time.Second, "a second reload", func() bool { return reloaded() > n })
	logs.WaitLine(t, time.Second, "configuration reloaded", "apps=2")
	if err := dial("cam"); err != nil {
		t.Errorf("connect to cam after the reload: %v", err)
	}

	// An invalid file is refused on SIGHUP, and by the file watcher; the
	// running config stays.
	write(base + "log:\n  level: loud\napps:\n  live:\n    gop_cache: true\n")
	cmd.Process.Signal(syscall.SIGHUP)
	line := logs.WaitLine(t, 5*time.Second, "reload refused; keeping the running config", "why=SIGHUP")
	if !strings.Contains(line, `log.level: \"loud\" is not one of debug, info, warn, error`) {
		t.Errorf("refusal does not name the problem: %s", line)
	}
	logs.WaitLine(t, 5*time.Second, "reload refused; keeping the running config", `why="file changed"`)
	if err := dial("cam"); err != nil {
		t.Errorf("connect to cam after a refused reload: %v", err)
	}

	// SIGTERM: a clean exit.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("tapedeck after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("tapedeck still running 10 s after SIGTERM")
	}
	logs.WaitLine(t, time.Second, "shutting down", "signal=terminated")
}

// installUnprivileged runs install (and stop) as an unprivileged user:
// both need administrator rights and say so, and install writes no config
// where there is none (it would as root).
func installUnprivileged(t *testing.T, exe string) {
	dir := openTempDir(t)
	good := filepath.Join(dir, "good.yaml")
	missing := filepath.Join(dir, "missing.yaml")
	os.WriteFile(good, []byte(goodConfig), 0o644)
	for _, run := range [][2]string{{"install", good}, {"install", missing}, {"stop", good}} {
		verb := run[0]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, exe, verb, "-c", run[1])
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("tapedeck %s as uid 65534: %v (stderr %q)", verb, err, stderr.String())
		}
		want := "tapedeck " + verb + ": needs administrator rights (run it with sudo, or as Administrator on Windows)\n"
		if ee.ExitCode() != 1 || stdout.String() != "" || stderr.String() != want {
			t.Errorf("tapedeck %s unprivileged: exit %d, stdout %q, stderr %q; want 1 and %q",
				verb, ee.ExitCode(), stdout.String(), stderr.String(), want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("install without the rights wrote the missing config")
	}
}
