package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/rtmp"
)

// cliTMain runs appliance.Main and returns the exit code, stdout and stderr.
func cliTMain(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := appliance.Main(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const cliTGood = "rtmp:\n  listen: \"127.0.0.1:1940\"\nlog:\n  level: warn\n"

const cliTBad = "rtmp:\n  chunk_sise: 4096\n  listen: nonsense\nlog:\n  level: loud\n"

func cliTBadProblems(path string) string {
	return path + ": log.level: \"loud\" is not one of debug, info, warn, error\n" +
		path + ": rtmp.chunk_sise: unknown key (did you mean chunk_size?)\n" +
		path + ": rtmp.listen: \"nonsense\" is not host:port (e.g. \":1935\" or \"127.0.0.1:8080\")\n"
}

func TestCLIVersion(t *testing.T) {
	code, out, errOut := cliTMain(t, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("version: exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "tapedeck dev ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("version printed %q, want one line starting \"tapedeck dev \"", out)
	}
	for _, want := range []string{runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "(commit "} {
		if !strings.Contains(out, want) {
			t.Errorf("version %q lacks %q", out, want)
		}
	}
}

func TestCLIConfigPrintsDefault(t *testing.T) {
	code, out, errOut := cliTMain(t, "config")
	if code != 0 || errOut != "" {
		t.Fatalf("config: exit %d, stderr %q", code, errOut)
	}
	if out != string(appliance.DefaultConfigYAML()) {
		t.Errorf("config printed something other than DefaultConfigYAML:\n%s", out)
	}
}

func TestCLICheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(cliTGood), 0o644)
	os.WriteFile(bad, []byte(cliTBad), 0o644)

	if code, out, errOut := cliTMain(t, "check", "-c", good); code != 0 || out != "ok\n" || errOut != "" {
		t.Errorf("check -c good.yaml: exit %d, stdout %q, stderr %q; want 0, \"ok\\n\"", code, out, errOut)
	}
	if code, out, errOut := cliTMain(t, "check", "-c", bad); code != 1 || out != "" || errOut != cliTBadProblems(bad) {
		t.Errorf("check -c bad.yaml: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and:\n%s", code, out, errOut, cliTBadProblems(bad))
	}
	missing := filepath.Join(dir, "missing.yaml")
	if code, _, errOut := cliTMain(t, "check", "-c", missing); code != 1 || errOut != "config: open "+missing+": no such file or directory\n" {
		t.Errorf("check -c missing.yaml: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := cliTMain(t, "check", "-x"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -x") {
		t.Errorf("check -x: exit %d, stderr %q; want 2 with the flag error", code, errOut)
	}
}

// Without -c, check uses ./tapedeck.yaml.
func TestCLICheckFindsConfigInWorkingDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tapedeck.yaml"), []byte(cliTBad), 0o644)
	t.Chdir(dir)
	if code, _, errOut := cliTMain(t, "check"); code != 1 || errOut != cliTBadProblems("tapedeck.yaml") {
		t.Errorf("check in a directory with a bad tapedeck.yaml: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestCLIUnknownVerb(t *testing.T) {
	code, out, errOut := cliTMain(t, "frobnicate")
	if code != 2 || out != "" {
		t.Errorf("frobnicate: exit %d, stdout %q; want 2 and nothing on stdout", code, out)
	}
	if !strings.HasPrefix(errOut, "tapedeck: unknown command \"frobnicate\"\nusage: tapedeck [command] [-c file]\n") {
		t.Errorf("frobnicate: stderr %q, want the error then the usage", errOut)
	}
}

func TestCLIHelp(t *testing.T) {
	cliTCheckHelp(t, "help")
}

// BUG: Main lists "-h" and "--help" with "help", but any first argument
// starting with '-' is taken as a flag of the default run verb, so
// `tapedeck -h` prints run's flag usage ("Usage of run: -c string") on
// stderr and exits 2 instead of printing the command list.
func TestCLIHelpFlag(t *testing.T) {
	cliTCheckHelp(t, "-h")
	cliTCheckHelp(t, "--help")
}

func cliTCheckHelp(t *testing.T, verb string) {
	t.Helper()
	code, out, errOut := cliTMain(t, verb)
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: tapedeck [command] [-c file]\n") {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", verb, code, out, errOut)
		return
	}
	for _, cmd := range []string{"run", "check", "config", "install", "uninstall", "status", "unit", "version"} {
		if !strings.Contains(out, "\n  "+cmd+" ") {
			t.Errorf("%s: usage does not list %s", verb, cmd)
		}
	}
}

// The run verb stops at a config that does not load, before it serves.
func TestCLIRunBadConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(cliTBad), 0o644)
	for _, args := range [][]string{{"run", "-c", bad}, {"-c", bad}} {
		if code, _, errOut := cliTMain(t, args...); code != 1 || errOut != cliTBadProblems(bad) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant 1 and every problem", args, code, errOut)
		}
	}
	if code, _, errOut := cliTMain(t, "run", "-nope"); code != 2 || !strings.Contains(errOut, "-nope") {
		t.Errorf("run -nope: exit %d, stderr %q; want 2", code, errOut)
	}
}

func cliTLines(s string) []string { return strings.Split(s, "\n") }

func TestCLIUnit(t *testing.T) {
	code, out, errOut := cliTMain(t, "unit")
	if code != 0 || errOut != "" {
		t.Fatalf("unit: exit %d, stderr %q", code, errOut)
	}
	lines := cliTLines(out)
	for _, want := range []string{
		"[Unit]",
		"[Service]",
		"Type=simple",
		"ExecStart=/usr/bin/tapedeck run -c /etc/tapedeck/tapedeck.yaml",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=always",
		"User=tapedeck",
		"Group=tapedeck",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"ReadWritePaths=/var/lib/tapedeck",
		"[Install]",
		"WantedBy=multi-user.target",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("unit lacks the line %q:\n%s", want, out)
		}
	}
	if want := appliance.SystemdUnit("/usr/bin/tapedeck", "/etc/tapedeck/tapedeck.yaml", "tapedeck", "/var/lib/tapedeck"); out != want {
		t.Errorf("unit output differs from SystemdUnit with the defaults")
	}

	code, out, _ = cliTMain(t, "unit", "-exe", "/opt/td/tapedeck", "-c", "/srv/td.yaml", "-user", "", "-storage", "/srv/rec")
	lines = cliTLines(out)
	if code != 0 || !slices.Contains(lines, "ExecStart=/opt/td/tapedeck run -c /srv/td.yaml") ||
		!slices.Contains(lines, "ReadWritePaths=/srv/rec") || strings.Contains(out, "User=") || strings.Contains(out, "Group=") {
		t.Errorf("unit with flags (root, custom paths): exit %d\n%s", code, out)
	}
}

func TestCLISystemdUnitQuoting(t *testing.T) {
	unit := appliance.SystemdUnit("/opt/tape deck/tapedeck", "/etc/my conf/tape\"deck\\.yaml", "svc", "/var/lib/tape deck")
	lines := cliTLines(unit)
	for _, want := range []string{
		`ExecStart="/opt/tape deck/tapedeck" run -c "/etc/my conf/tape\"deck\\.yaml"`,
		`ReadWritePaths="/var/lib/tape deck"`,
		"User=svc",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("unit lacks the line %s:\n%s", want, unit)
		}
	}
}

// BUG: systemdQuote escapes blanks, quotes and backslashes but not "%"
// (a unit specifier everywhere, literal "%%") nor "$" (variable
// expansion in ExecStart, literal "$$"), so an install path such as
// /opt/50%off/tapedeck yields a unit systemd refuses or runs wrongly.
func TestCLISystemdUnitSpecifiers(t *testing.T) {
	unit := appliance.SystemdUnit("/opt/50%off/tapedeck", "/etc/td/$HOME.yaml", "", "/srv/100%")
	lines := cliTLines(unit)
	for _, want := range []string{
		"ExecStart=/opt/50%%off/tapedeck run -c /etc/td/$$HOME.yaml",
		"ReadWritePaths=/srv/100%%",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("BUG: unit lacks the escaped line %s:\n%s", want, unit)
		}
	}
}

func TestCLIInstall(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(cliTGood), 0o644)
	os.WriteFile(bad, []byte(cliTBad), 0o644)

	// A config that does not load is refused before anything is installed,
	// whoever runs it.
	code, out, errOut := cliTMain(t, "install", "-c", bad)
	want := "tapedeck install: the config does not load:\n" + cliTBadProblems(bad)
	if code != 1 || out != "" || errOut != want {
		t.Errorf("install -c bad.yaml: exit %d, stdout %q, stderr:\n%s\nwant 1 and:\n%s", code, out, errOut, want)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if code, _, errOut := cliTMain(t, "install", "-c", missing); code != 1 ||
		!strings.HasPrefix(errOut, "tapedeck install: the config does not load:\n") {
		t.Errorf("install -c missing.yaml: exit %d, stderr %q", code, errOut)
	}

	if os.Geteuid() == 0 {
		// Running install for real as root would install a service on this
		// machine; TestCLIBinary/InstallUnprivileged covers the rights check.
		t.Log("running as root: the rights check is tested as an unprivileged subprocess")
		return
	}
	for _, verb := range []string{"install", "uninstall", "start", "stop", "restart"} {
		code, out, errOut := cliTMain(t, verb, "-c", good)
		want := "tapedeck " + verb + ": needs administrator rights (run it with sudo, or as Administrator on Windows)\n"
		if code != 1 || out != "" || errOut != want {
			t.Errorf("%s as a user: exit %d, stdout %q, stderr %q; want 1 and %q", verb, code, out, errOut, want)
		}
	}
}

func TestCLIStatus(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte(cliTGood), 0o644)
	code, out, errOut := cliTMain(t, "status", "-c", good)
	if code != 0 || errOut != "" || !slices.Contains([]string{"running\n", "stopped\n", "not installed\n"}, out) {
		t.Errorf("status: exit %d, stdout %q, stderr %q; want 0 and one of running, stopped, not installed", code, out, errOut)
	}
}

// ---- the built binary ----

// cliTOpenTempDir returns a temporary directory that other users may read,
// for a binary and config run as an unprivileged user.
func cliTOpenTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cliTBuild builds the tapedeck binary into a directory anyone may read.
func cliTBuild(t *testing.T) string {
	t.Helper()
	dir := cliTOpenTempDir(t)
	exe := filepath.Join(dir, "tapedeck")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", exe, "github.com/tapedeck/tapedeck")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

func TestCLIBinary(t *testing.T) {
	t.Parallel()
	exe := cliTBuild(t)
	t.Run("RunReloadTerm", func(t *testing.T) {
		t.Parallel()
		cliTRunReload(t, exe)
	})
	t.Run("InstallUnprivileged", func(t *testing.T) {
		t.Parallel()
		cliTInstallUnprivileged(t, exe)
	})
}

// cliTRunReload runs `tapedeck run -c FILE` as a process: it serves,
// reloads on SIGHUP (and on a file change), refuses an invalid file while
// keeping the running config, and exits 0 on SIGTERM.
func cliTRunReload(t *testing.T, exe string) {
	addr := apiTFreePort(t)
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
	logs := &apiTLog{}
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

	logs.waitLine(t, 10*time.Second, "rtmp listening", "addr="+addr, "config="+path)
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
	logs.waitLine(t, 5*time.Second, "configuration reloaded", "apps=1")

	// Add an app and SIGHUP: the app is served without a restart.
	n := reloaded()
	write(base + "apps:\n  live:\n    gop_cache: true\n  cam:\n    gop_cache: true\n")
	cmd.Process.Signal(syscall.SIGHUP)
	apiTEventually(t, 5*time.Second, "a second reload", func() bool { return reloaded() > n })
	logs.waitLine(t, time.Second, "configuration reloaded", "apps=2")
	if err := dial("cam"); err != nil {
		t.Errorf("connect to cam after the reload: %v", err)
	}

	// An invalid file is refused on SIGHUP, and by the file watcher; the
	// running config stays.
	write(base + "log:\n  level: loud\napps:\n  live:\n    gop_cache: true\n")
	cmd.Process.Signal(syscall.SIGHUP)
	line := logs.waitLine(t, 5*time.Second, "reload refused; keeping the running config", "why=SIGHUP")
	if !strings.Contains(line, `log.level: \"loud\" is not one of debug, info, warn, error`) {
		t.Errorf("refusal does not name the problem: %s", line)
	}
	logs.waitLine(t, 5*time.Second, "reload refused; keeping the running config", `why="file changed"`)
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
	logs.waitLine(t, time.Second, "shutting down", "signal=terminated")
}

// cliTInstallUnprivileged runs install (and stop) as an unprivileged user:
// both need administrator rights and say so.
func cliTInstallUnprivileged(t *testing.T, exe string) {
	dir := cliTOpenTempDir(t)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(cliTGood), 0o644)
	for _, verb := range []string{"install", "stop"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, exe, verb, "-c", good)
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
}
