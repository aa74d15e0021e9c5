//go:build linux

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
	t.Run("VersionHelpCheck", func(t *testing.T) {
		t.Parallel()
		versionHelpCheck(t, exe)
	})
}

// versionHelpCheck runs the built binary as a newcomer would: the version
// flags, a verb's help, a stray argument, and a bad environment variable
// that check blames on the variable, not on the file.
func versionHelpCheck(t *testing.T, exe string) {
	run := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%q: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	_, version, _ := run(nil, "version")
	if !strings.HasPrefix(version, "tapedeck ") || strings.Count(version, "\n") != 1 {
		t.Errorf("version: %q", version)
	}
	for _, arg := range []string{"-v", "--version"} {
		if code, out, errOut := run(nil, arg); code != 0 || out != version || errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and %q", arg, code, out, errOut, version)
		}
	}
	code, help, _ := run(nil, "help", "install")
	if code != 0 || !strings.HasPrefix(help, "usage: tapedeck install [-c FILE]\n") || !strings.Contains(help, "\nflags:\n  -c file") || !strings.Contains(help, "\nexample:\n") {
		t.Errorf("help install: exit %d\n%s", code, help)
	}
	if code, out, _ := run(nil, "install", "--help"); code != 0 || out != help {
		t.Errorf("install --help: exit %d, differs from help install:\n%s", code, out)
	}
	cfg := filepath.Join(t.TempDir(), "td.yaml")
	os.WriteFile(cfg, []byte(goodConfig), 0o644)
	if code, _, errOut := run(nil, "check", cfg); code != 2 || !strings.Contains(errOut, "-c "+cfg) {
		t.Errorf("check FILE (without -c): exit %d, stderr %q; want 2 and a hint", code, errOut)
	}
	want := "environment TAPEDECK_RTMP_LISTEN: rtmp.listen: \"nonsense\" is not host:port (e.g. \":1935\" or \"127.0.0.1:8080\")\n"
	if code, _, errOut := run([]string{"TAPEDECK_RTMP_LISTEN=nonsense"}, "check", "-c", cfg); code != 1 || errOut != want {
		t.Errorf("check with TAPEDECK_RTMP_LISTEN=nonsense: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	if code, out, _ := run(nil, "check", "-c", cfg); code != 0 || out != "ok: "+cfg+"\n" {
		t.Errorf("check -c td.yaml: exit %d, stdout %q", code, out)
	}
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
	// running config stays. Each problem is a log line of its own (no
	// literal "\n" inside one).
	write(base + "log:\n  level: loud\napps:\n  live:\n    gop_cache: maybe\n")
	cmd.Process.Signal(syscall.SIGHUP)
	for _, problem := range []string{
		`apps.live.gop_cache: \"maybe\" is not true or false`,
		`log.level: \"loud\" is not one of debug, info, warn, error`,
	} {
		line := logs.WaitLine(t, 5*time.Second, "reload refused; keeping the running config", "why=SIGHUP", problem)
		if strings.Contains(line, `\n`) || !strings.Contains(line, "problem=\""+path+": ") {
			t.Errorf("refusal line is not one problem naming the file: %s", line)
		}
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
