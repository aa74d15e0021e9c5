package appliance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
)

// LSB init-script status codes, which `tapedeck status` exits with.
const (
	statusRunning      = 0
	statusStopped      = 3
	statusNotInstalled = 4
	statusUnknown      = 1 // the service manager could not be asked
)

// sysvScript is where the SysV init script lives (kardianos/service
// writes it there and links it from /etc/rc?.d).
const sysvScript = "/etc/init.d/" + serviceName

// platformSysV is kardianos/service's name for SysV init.
const platformSysV = "unix-systemv"

// switchesUser reports whether the init system starts the service as the
// configured user itself: systemd (User= in our unit), upstart (setuid),
// launchd, Windows. SysV, OpenRC, rcS and procd scripts run it as root —
// kardianos/service v1.3.0's templates ignore Config.UserName — so there
// the binary switches itself (run -user).
func switchesUser(platform string) bool {
	switch platform {
	case platformSysV, "linux-openrc", "linux-rcs", "linux-procd":
		return false
	}
	return true
}

// serviceDefinition is the file install writes for platform, and what it is.
func serviceDefinition(platform string) (string, string) {
	switch platform {
	case "linux-systemd":
		return "/etc/systemd/system/" + serviceName + ".service", "systemd unit"
	case platformSysV:
		return sysvScript, "SysV init script, linked from /etc/rc0.d … /etc/rc6.d"
	case "linux-upstart":
		return "/etc/init/" + serviceName + ".conf", "upstart job"
	case "linux-openrc":
		return "/etc/init.d/" + serviceName, "OpenRC script"
	case "linux-rcs", "linux-procd":
		return "/etc/init.d/" + serviceName, "init script, linked from /etc/rc.d"
	case "darwin-launchd":
		return "/Library/LaunchDaemons/" + serviceName + ".plist", "launchd daemon"
	}
	return serviceName, platform + " service"
}

// installSummary says what install did, one line each: the service
// definition and the command it runs, the config's mode and owner, the
// user, and, without systemd, that the unit's sandbox does not apply.
func installSummary(w io.Writer, platform, configPath, user string) {
	def, what := serviceDefinition(platform)
	exe, _ := os.Executable()
	args := serviceConfig(exe, configPath, user).Arguments
	fmt.Fprintf(w, "tapedeck install: wrote %s (%s): runs %s %s\n", def, what, exe, strings.Join(args, " "))
	if user == "" {
		user = "root"
	}
	fmt.Fprintf(w, "tapedeck install: the service runs as user %s\n", user)
	if desc := fileOwnerMode(configPath); desc != "" {
		fmt.Fprintf(w, "tapedeck install: config %s: %s\n", configPath, desc)
	}
	if runtime.GOOS == "linux" && platform != "linux-systemd" {
		fmt.Fprintf(w, "tapedeck install: no systemd here (%s): the systemd unit's hardening (ProtectSystem=strict, ProtectHome, PrivateTmp, PrivateDevices, NoNewPrivileges, ReadWritePaths) does not apply; the service is only as confined as user %s\n", platform, user)
		if platform == platformSysV {
			fmt.Fprintf(w, "tapedeck install: its output goes to /var/log/%s.log and /var/log/%s.err\n", serviceName, serviceName)
		}
	}
	fmt.Fprintf(w, "tapedeck install: done; start it with: tapedeck start\n")
}

// serviceStatus asks the service manager for the service's state and
// returns the word to print and the LSB exit code.
func serviceStatus(svc service.Service) (string, int, error) {
	if svc.Platform() == platformSysV {
		// kardianos/service runs `service NAME status` and takes the
		// script's "stopped" exit code (3, or 1 from its own template) for
		// an error; the script answers well enough itself.
		return sysvStatus(sysvScript)
	}
	st, err := svc.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled), err != nil && !unitInstalled():
		return "not installed", statusNotInstalled, nil
	case err != nil:
		return "", statusUnknown, err
	case st == service.StatusRunning:
		return "running", statusRunning, nil
	}
	return "stopped", statusStopped, nil
}

// sysvStatus runs script status: exit 0 is running; 3 (LSB) or the
// "Stopped" of kardianos/service's template (exit 1) is stopped; no
// script, or 4, is not installed.
func sysvStatus(script string) (string, int, error) {
	if _, err := os.Stat(script); errors.Is(err, os.ErrNotExist) {
		return "not installed", statusNotInstalled, nil
	}
	out, err := exec.Command(script, "status").CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "running", statusRunning, nil
	case errors.As(err, &ee) && (ee.ExitCode() == 3 || strings.HasPrefix(string(out), "Stopped")):
		return "stopped", statusStopped, nil
	case errors.As(err, &ee) && ee.ExitCode() == 4:
		return "not installed", statusNotInstalled, nil
	}
	return "", statusUnknown, fmt.Errorf("%s status: %w: %s", script, err, strings.TrimSpace(string(out)))
}

// removeSysVLinks removes the /etc/rc?.d links to the init script, which
// kardianos/service's uninstall leaves dangling.
func removeSysVLinks() {
	links, _ := filepath.Glob("/etc/rc[0-6S].d/[SK][0-9][0-9]" + serviceName)
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && (target == sysvScript || target == "../init.d/"+serviceName) {
			os.Remove(l)
		}
	}
}
