package packaging

// Helpers for the packaging tests: the release artefacts (built once per
// `go test` run into a temporary directory, or taken from TAPEDECK_DIST),
// external tools, and processes with logs kept for failure reports.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testStamp is what the tests' own builds are stamped with.
var testStamp = Stamp{Version: "v0.0.0-test", Commit: "0123abc", Date: "2026-01-02T03:04:05Z"}

var art struct {
	mu      sync.Mutex
	root    string            // module root
	tmp     string            // this run's build directory
	dist    string            // TAPEDECK_DIST: verify these artefacts instead
	version string            // version of the artefacts under test
	bins    map[Target]string // built or found binaries
	debs    map[string]string // built or found packages
	unit    []byte            // generated unit, config and man page (own builds)
	config  []byte
	man     []byte
}

func TestMain(m *testing.M) {
	code := func() int {
		root, err := FindRoot(".")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		art.root = root
		art.bins = map[Target]string{}
		art.debs = map[string]string{}
		art.version = testStamp.Version
		if d := os.Getenv("TAPEDECK_DIST"); d != "" {
			if !filepath.IsAbs(d) {
				d = filepath.Join(root, d)
			}
			art.dist = d
		}
		tmp, err := os.MkdirTemp("", "tapedeck-packaging-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		art.tmp = tmp
		return m.Run()
	}()
	os.Exit(code)
}

// ci reports whether missing tools fail the tests instead of skipping them.
func ci() bool { return os.Getenv("CI") == "true" }

// needTool returns the path of an external program, skipping the test when
// it is missing, except under CI where it must be there.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if ci() {
			t.Fatalf("%s required under CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// skipShort skips tests that build release artefacts under -short.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds release artefacts; skipped with -short")
	}
}

// skipOrFail skips, or fails under CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if ci() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// binaries returns the binaries for targets, building the ones this run
// does not have yet (two at a time) or finding them in TAPEDECK_DIST.
func binaries(t testing.TB, targets ...Target) map[Target]string {
	t.Helper()
	art.mu.Lock()
	defer art.mu.Unlock()
	var missing []Target
	for _, tg := range targets {
		if _, ok := art.bins[tg]; !ok {
			missing = append(missing, tg)
		}
	}
	if len(missing) > 0 && art.dist != "" {
		for _, tg := range missing {
			p, v := findArtefact(t, "tapedeck_*_"+strings.ReplaceAll(tg.String(), "/", "_")+map[bool]string{true: ".exe"}[tg.GOOS == "windows"])
			art.bins[tg] = p
			art.version = v
		}
		missing = nil
	}
	if len(missing) > 0 {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		got, err := BuildBinaries(ctx, art.root, art.tmp, testStamp, missing, 2, nil)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		for tg, p := range got {
			art.bins[tg] = p
		}
		t.Logf("built %d targets in %v", len(missing), time.Since(start).Round(time.Millisecond))
	}
	out := map[Target]string{}
	for _, tg := range targets {
		out[tg] = art.bins[tg]
	}
	return out
}

func binaryFor(t testing.TB, tg Target) string { return binaries(t, tg)[tg] }

var (
	host      = Target{"linux", "amd64", ""}
	linuxARM6 = Target{"linux", "arm", "6"}
	linuxARM7 = Target{"linux", "arm", "7"}
	linuxA64  = Target{"linux", "arm64", ""}
)

// hostBinary is the linux/amd64 build, which this machine runs.
func hostBinary(t testing.TB) string {
	t.Helper()
	if out, err := exec.Command("uname", "-m").Output(); err != nil || strings.TrimSpace(string(out)) != "x86_64" {
		skipOrFail(t, "the tests run the linux/amd64 binary; this machine is %s", strings.TrimSpace(string(out)))
	}
	return binaryFor(t, host)
}

// debPackage returns the .deb for a Debian architecture, packaging it with
// the pinned nfpm on first use (or finding it in TAPEDECK_DIST).
func debPackage(t testing.TB, arch string) string {
	t.Helper()
	d, ok := debFor(arch)
	if !ok {
		t.Fatalf("no Debian architecture %q", arch)
	}
	bins := binaries(t, host, d.Target)
	art.mu.Lock()
	defer art.mu.Unlock()
	if p, ok := art.debs[arch]; ok {
		return p
	}
	if art.dist != "" {
		p, _ := findArtefact(t, "tapedeck_*_"+arch+".deb")
		art.debs[arch] = p
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if art.unit == nil {
		unit, config, man, err := Generated(ctx, art.root, bins)
		if err != nil {
			t.Fatal(err)
		}
		art.unit, art.config, art.man = unit, config, man
	}
	start := time.Now()
	p, err := BuildDeb(ctx, art.root, art.tmp, filepath.Join(art.tmp, "stage"), testStamp, d, bins[d.Target], art.unit, art.config, art.man, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packaged %s in %v", filepath.Base(p), time.Since(start).Round(time.Millisecond))
	art.debs[arch] = p
	return p
}

// findArtefact finds the one file in TAPEDECK_DIST matching pattern and
// returns it with the version in its name.
func findArtefact(t testing.TB, pattern string) (path, version string) {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(art.dist, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("TAPEDECK_DIST=%s: want exactly one %s, found %v (err %v)", art.dist, pattern, m, err)
	}
	v := strings.TrimPrefix(filepath.Base(m[0]), "tapedeck_")
	v = v[:strings.Index(v, "_")]
	return m[0], v
}

// ---- processes ----

// syncBuffer is a goroutine-safe buffer for a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a tapedeck process (possibly under qemu) and its log.
type server struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
	addr string
}

var listeningRe = regexp.MustCompile(`msg="rtmp listening" addr=(\S+)`)

// startServer runs argv (ending in `run -c FILE`) and waits until it logs
// its RTMP address. The process is stopped at cleanup if still running.
func startServer(t testing.TB, argv []string, timeout time.Duration) *server {
	t.Helper()
	s := &server{log: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		if m := listeningRe.FindStringSubmatch(s.log.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("server exited before listening: %v\n%s", err, s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not listening after %v:\n%s", timeout, s.log.String())
		}
	}
}

// waitLog waits until the server's log contains substr.
func (s *server) waitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.log.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("server log has no %q after %v", substr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects exit 0 within timeout.
func (s *server) stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v", err)
		}
	case <-time.After(timeout):
		t.Errorf("server still running %v after SIGTERM", timeout)
	}
}

// writeConfig writes a config listening on a free loopback port (or addr),
// without the HTTP API, with storage in a temporary directory.
func writeConfig(t testing.TB, listen string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`rtmp:
  listen: %q
http:
  listen: ""
storage:
  dir: %q
apps:
  live:
    republish_grace: 0s
`, listen, filepath.Join(dir, "recordings"))
	p := filepath.Join(dir, "tapedeck.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// run runs a command with a deadline and returns its combined output.
func run(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// mustRun is run that fails the test on error.
func mustRun(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
