package appliance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
)

// serviceName is the name of the OS service (systemd unit, launchd label,
// Windows service).
const serviceName = "tapedeck"

// SystemdUnit renders the systemd unit for exe running configPath. The
// unit the .deb installs is the same text (packaging calls `tapedeck
// unit`), so the two cannot drift apart.
func SystemdUnit(exe, configPath, user, storageDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[Unit]
Description=tapedeck RTMP recording and restreaming appliance
Documentation=https://github.com/tapedeck/tapedeck
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=%s run -c %s
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2
TimeoutStopSec=15
LimitNOFILE=65536
`, systemdQuote(exe), systemdQuote(configPath))
	if user != "" {
		fmt.Fprintf(&b, "User=%s\nGroup=%s\n", user, user)
	}
	fmt.Fprintf(&b, `NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
ReadWritePaths=%s
# To listen on a port below 1024 (e.g. RTMPS on 443) as a non-root user:
#AmbientCapabilities=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
`, systemdQuote(storageDir))
	return b.String()
}

func systemdQuote(s string) string {
	// % starts a specifier and $ a variable in unit files.
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if strings.ContainsAny(s, " \t\"'\\") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}

// serviceProgram runs the appliance under a service manager that calls
// Start and Stop (Windows); on systemd and launchd `run` is the program.
type serviceProgram struct {
	configPath string
	stop       chan struct{}
	exited     chan int
}

func (p *serviceProgram) Start(service.Service) error {
	p.stop = make(chan struct{})
	p.exited = make(chan int, 1)
	go func() { p.exited <- runUntil(p.configPath, os.Stderr, p.stop) }()
	return nil
}

func (p *serviceProgram) Stop(service.Service) error {
	close(p.stop)
	<-p.exited
	return nil
}

// newService is the OS service running configPath as user ("" for root).
func newService(configPath, user string) (service.Service, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return service.New(&serviceProgram{configPath: configPath}, serviceConfig(exe, configPath, user))
}

// serviceConfig is what the service manager is given for exe running
// configPath as user; on Linux it carries the systemd unit install writes.
func serviceConfig(exe, configPath, user string) *service.Config {
	cfg := &service.Config{
		Name:        serviceName,
		DisplayName: "tapedeck",
		Description: "tapedeck RTMP recording and restreaming appliance",
		Arguments:   []string{"run", "-c", configPath},
		Option: service.KeyValue{
			"Restart":   "always",
			"KeepAlive": true,
			"RunAtLoad": true,
		},
	}
	if runtime.GOOS == "linux" {
		storage := serviceHome
		if c, err := LoadConfig(configPath); err == nil {
			if abs, err := filepath.Abs(c.Storage.Dir); err == nil {
				storage = abs
			}
		}
		cfg.Option["SystemdScript"] = SystemdUnit(exe, configPath, user, storage)
		// Upstart's job switches to it too; SysV's and OpenRC's scripts
		// have no user setting (kardianos/service v1.3.0) and start it as
		// root, so there the binary switches itself.
		cfg.UserName = user
		if user != "" && !switchesUser(service.Platform()) {
			cfg.Arguments = append(cfg.Arguments, "-user", user)
		}
	}
	return cfg
}

// cmdService handles install, uninstall, start, stop, restart and status.
func cmdService(verb string, args []string, stdout, stderr io.Writer) int {
	fs, code, ok := parseVerb(verb, args, stdout, stderr)
	if !ok {
		return code
	}
	configPath, err := filepath.Abs(flagValue(fs, "c"))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if verb == "install" {
		// A missing config is written by prepareInstall; a broken one is
		// refused before anything changes, whoever runs it.
		if _, err := os.Stat(configPath); !errors.Is(err, os.ErrNotExist) {
			if _, err := LoadConfig(configPath); err != nil {
				fmt.Fprintf(stderr, "tapedeck install: the config does not load:\n%v\n", err)
				return 1
			}
		}
	}
	if verb != "status" && !isPrivileged() {
		fmt.Fprintf(stderr, "tapedeck %s: needs administrator rights (run it with sudo, or as Administrator on Windows)\n", verb)
		return 1
	}
	user := "" // only install writes the unit; the other verbs name it
	if verb == "install" {
		if user, err = prepareInstall(configPath, stdout); err != nil {
			fmt.Fprintf(stderr, "tapedeck install: %v\n", err)
			return 1
		}
	}
	svc, err := newService(configPath, user)
	if err != nil {
		fmt.Fprintf(stderr, "tapedeck %s: %v\n", verb, err)
		return 1
	}
	if verb == "status" {
		// The word and the LSB exit code: 0 running, 3 stopped, 4 not
		// installed, as `service NAME status` scripts answer.
		word, code, err := serviceStatus(svc)
		if err != nil {
			fmt.Fprintf(stderr, "tapedeck status: %v\n", err)
			return code
		}
		fmt.Fprintln(stdout, word)
		return code
	}
	if err := service.Control(svc, verb); err != nil {
		fmt.Fprintf(stderr, "tapedeck %s: %v\n", verb, err)
		return 1
	}
	switch {
	case verb == "install":
		installSummary(stdout, svc.Platform(), configPath, user)
		return 0
	case verb == "uninstall" && svc.Platform() == platformSysV:
		removeSysVLinks()
	}
	fmt.Fprintf(stdout, "tapedeck %s: done\n", verb)
	return 0
}

// runAsService runs under a service manager that is not systemd or launchd
// (Windows), where the program must answer Start and Stop.
func runAsService(configPath string) (bool, int) {
	if service.Interactive() || runtime.GOOS != "windows" {
		return false, 0
	}
	svc, err := newService(configPath, "")
	if err != nil {
		return true, 1
	}
	if err := svc.Run(); err != nil {
		return true, 1
	}
	return true, 0
}

// unitInstalled reports whether a service definition exists where the
// platform keeps it; used when the service manager cannot be asked.
func unitInstalled() bool {
	for _, p := range []string{
		"/etc/systemd/system/" + serviceName + ".service",
		"/lib/systemd/system/" + serviceName + ".service",
		"/etc/init.d/" + serviceName,
		"/Library/LaunchDaemons/" + serviceName + ".plist",
	} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return runtime.GOOS == "windows"
}
