//go:build linux

package appliance

import (
	"os"
	"path/filepath"
	"testing"
)

// sysvStatus reads an init script's answer: LSB exit codes (0 running,
// 3 stopped, 4 unknown/not installed), and the "Stopped" with exit 1 of
// kardianos/service's own template, which earlier installs wrote.
func TestSysVStatus(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, script, word string
		code               int
		fails              bool
	}{
		{"running", "echo Running; exit 0", "running", statusRunning, false},
		{"stopped, LSB", "echo 'tapedeck is not running'; exit 3", "stopped", statusStopped, false},
		{"stopped, kardianos template", "echo Stopped; exit 1", "stopped", statusStopped, false},
		{"status unknown", "exit 4", "not installed", statusNotInstalled, false},
		{"a broken script", "echo oops; exit 2", "", statusUnknown, true},
	}
	for _, c := range cases {
		p := filepath.Join(dir, "s")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = status ] || exit 9\n"+c.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		word, code, err := sysvStatus(p)
		if word != c.word || code != c.code || (err != nil) != c.fails {
			t.Errorf("%s: %q, %d, %v; want %q, %d, error %v", c.name, word, code, err, c.word, c.code, c.fails)
		}
	}
	if word, code, err := sysvStatus(filepath.Join(dir, "missing")); word != "not installed" || code != statusNotInstalled || err != nil {
		t.Errorf("no script: %q, %d, %v; want not installed, 4", word, code, err)
	}
}

// Where the init system starts the service as root, the command it runs
// switches to the user itself; where it switches (systemd, upstart), the
// command does not ask for it.
func TestServiceArgumentsSwitchUser(t *testing.T) {
	for platform, want := range map[string]bool{
		platformSysV: false, "linux-openrc": false, "linux-rcs": false, "linux-procd": false,
		"linux-systemd": true, "linux-upstart": true, "darwin-launchd": true, "windows-service": true,
	} {
		if got := switchesUser(platform); got != want {
			t.Errorf("switchesUser(%q) = %v, want %v", platform, got, want)
		}
	}
}
