package appliance_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/appliance"
)

// runMain runs appliance.Main and returns the exit code, stdout and stderr.
func runMain(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := appliance.Main(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const goodConfig = "rtmp:\n  listen: \"127.0.0.1:1940\"\nlog:\n  level: warn\n"

const badConfig = "rtmp:\n  chunk_sise: 4096\n  listen: nonsense\nlog:\n  level: loud\n"

func badConfigProblems(path string) string {
	return path + ": log.level: \"loud\" is not one of debug, info, warn, error\n" +
		path + ": rtmp.chunk_sise: unknown key (did you mean chunk_size?)\n" +
		path + ": rtmp.listen: \"nonsense\" is not host:port (e.g. \":1935\" or \"127.0.0.1:8080\")\n"
}

func TestCLIVersion(t *testing.T) {
	code, out, errOut := runMain(t, "version")
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
	code, out, errOut := runMain(t, "config")
	if code != 0 || errOut != "" {
		t.Fatalf("config: exit %d, stderr %q", code, errOut)
	}
	if out != string(appliance.DefaultConfigYAML()) {
		t.Errorf("config printed something other than DefaultConfigYAML:\n%s", out)
	}
}

func TestCLICheck(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, "good.yaml", goodConfig)
	bad := writeConfig(t, "bad.yaml", badConfig)

	if code, out, errOut := runMain(t, "check", "-c", good); code != 0 || out != "ok: "+good+"\n" || errOut != "" {
		t.Errorf("check -c good.yaml: exit %d, stdout %q, stderr %q; want 0, \"ok: %s\\n\"", code, out, errOut, good)
	}
	if code, out, errOut := runMain(t, "check", "-c", bad); code != 1 || out != "" || errOut != badConfigProblems(bad) {
		t.Errorf("check -c bad.yaml: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and:\n%s", code, out, errOut, badConfigProblems(bad))
	}
	missing := filepath.Join(dir, "missing.yaml")
	if code, _, errOut := runMain(t, "check", "-c", missing); code != 1 || errOut != "config: open "+missing+": no such file or directory\n" {
		t.Errorf("check -c missing.yaml: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runMain(t, "check", "-x"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -x") {
		t.Errorf("check -x: exit %d, stderr %q; want 2 with the flag error", code, errOut)
	}
}

// Without -c, check uses ./tapedeck.yaml.
func TestCLICheckFindsConfigInWorkingDir(t *testing.T) {
	path := writeConfig(t, "tapedeck.yaml", badConfig)
	t.Chdir(filepath.Dir(path))
	if code, _, errOut := runMain(t, "check"); code != 1 || errOut != badConfigProblems("tapedeck.yaml") {
		t.Errorf("check in a directory with a bad tapedeck.yaml: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestCLIUnknownVerb(t *testing.T) {
	code, out, errOut := runMain(t, "frobnicate")
	if code != 2 || out != "" {
		t.Errorf("frobnicate: exit %d, stdout %q; want 2 and nothing on stdout", code, out)
	}
	if !strings.HasPrefix(errOut, "tapedeck: unknown command \"frobnicate\"\nusage: tapedeck [command] [-c file]\n") {
		t.Errorf("frobnicate: stderr %q, want the error then the usage", errOut)
	}
}

func TestCLIHelp(t *testing.T) {
	checkHelp(t, "help")
}

// "-h" and "--help" print the command list like "help" (exit 0, on
// stdout), although other first arguments starting with '-' are flags of
// the default run verb.
func TestCLIHelpFlag(t *testing.T) {
	checkHelp(t, "-h")
	checkHelp(t, "--help")
}

func checkHelp(t *testing.T, verb string) {
	t.Helper()
	code, out, errOut := runMain(t, verb)
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
	bad := writeConfig(t, "bad.yaml", badConfig)
	for _, args := range [][]string{{"run", "-c", bad}, {"-c", bad}} {
		if code, _, errOut := runMain(t, args...); code != 1 || errOut != badConfigProblems(bad) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant 1 and every problem", args, code, errOut)
		}
	}
	if code, _, errOut := runMain(t, "run", "-nope"); code != 2 || !strings.Contains(errOut, "-nope") {
		t.Errorf("run -nope: exit %d, stderr %q; want 2", code, errOut)
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func TestCLIUnit(t *testing.T) {
	code, out, errOut := runMain(t, "unit")
	if code != 0 || errOut != "" {
		t.Fatalf("unit: exit %d, stderr %q", code, errOut)
	}
	lines := splitLines(out)
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

	code, out, _ = runMain(t, "unit", "-exe", "/opt/td/tapedeck", "-c", "/srv/td.yaml", "-user", "", "-storage", "/srv/rec")
	lines = splitLines(out)
	if code != 0 || !slices.Contains(lines, "ExecStart=/opt/td/tapedeck run -c /srv/td.yaml") ||
		!slices.Contains(lines, "ReadWritePaths=/srv/rec") || strings.Contains(out, "User=") || strings.Contains(out, "Group=") {
		t.Errorf("unit with flags (root, custom paths): exit %d\n%s", code, out)
	}
}

func TestCLISystemdUnitQuoting(t *testing.T) {
	unit := appliance.SystemdUnit("/opt/tape deck/tapedeck", "/etc/my conf/tape\"deck\\.yaml", "svc", "/var/lib/tape deck")
	lines := splitLines(unit)
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

// The unit escapes "%" (a unit specifier everywhere, literal "%%") and
// "$" (variable expansion in ExecStart, literal "$$") besides blanks,
// quotes and backslashes, so that an install path such as
// /opt/50%off/tapedeck yields a unit systemd runs as written.
func TestCLISystemdUnitSpecifiers(t *testing.T) {
	unit := appliance.SystemdUnit("/opt/50%off/tapedeck", "/etc/td/$HOME.yaml", "", "/srv/100%")
	lines := splitLines(unit)
	for _, want := range []string{
		"ExecStart=/opt/50%%off/tapedeck run -c /etc/td/$$HOME.yaml",
		"ReadWritePaths=/srv/100%%",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("unit lacks the escaped line %s:\n%s", want, unit)
		}
	}
}

func TestCLIInstall(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, "good.yaml", goodConfig)
	bad := writeConfig(t, "bad.yaml", badConfig)

	// A config that does not load is refused before anything is installed,
	// whoever runs it.
	code, out, errOut := runMain(t, "install", "-c", bad)
	want := "tapedeck install: the config does not load:\n" + badConfigProblems(bad)
	if code != 1 || out != "" || errOut != want {
		t.Errorf("install -c bad.yaml: exit %d, stdout %q, stderr:\n%s\nwant 1 and:\n%s", code, out, errOut, want)
	}
	if os.Geteuid() == 0 {
		// Running install for real as root would install a service on this
		// machine; TestCLIBinary/InstallUnprivileged covers the rights check.
		t.Log("running as root: the rights check is tested as an unprivileged subprocess")
		return
	}
	// A missing config is not an error (install writes it), but writing it
	// needs the rights too.
	missing := filepath.Join(dir, "missing.yaml")
	for _, verb := range []string{"install", "uninstall", "start", "stop", "restart"} {
		cfg := good
		if verb == "install" {
			cfg = missing
		}
		code, out, errOut := runMain(t, verb, "-c", cfg)
		want := "tapedeck " + verb + ": needs administrator rights (run it with sudo, or as Administrator on Windows)\n"
		if code != 1 || out != "" || errOut != want {
			t.Errorf("%s as a user: exit %d, stdout %q, stderr %q; want 1 and %q", verb, code, out, errOut, want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("install without the rights wrote the config")
	}
}

func TestCLIStatus(t *testing.T) {
	good := writeConfig(t, "good.yaml", goodConfig)
	code, out, errOut := runMain(t, "status", "-c", good)
	// LSB init-script status codes.
	want := map[string]int{"running\n": 0, "stopped\n": 3, "not installed\n": 4}
	if wantCode, ok := want[out]; !ok || code != wantCode || errOut != "" {
		t.Errorf("status: exit %d, stdout %q, stderr %q; want running/0, stopped/3 or not installed/4", code, out, errOut)
	}
}
