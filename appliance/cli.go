package appliance

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// Build information, stamped by the release build with -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Main runs the command line with args (without the program name) and
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		usage(stdout)
		return 0
	}
	verb := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "run":
		return cmdRun(args, stderr)
	case "check":
		return cmdCheck(args, stdout, stderr)
	case "config":
		stdout.Write(defaultYAML)
		return 0
	case "install", "uninstall", "start", "stop", "restart", "status":
		return cmdService(verb, args, stdout, stderr)
	case "unit":
		return cmdUnit(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "tapedeck: unknown command %q\n", verb)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: tapedeck [command] [-c file]
commands:
  run        run in the foreground (default)
  check      validate a config file
  config     print the default config
  install    install as an OS service (systemd, launchd, Windows) running -c FILE
             (written if absent; made root:tapedeck 0640; runs as user tapedeck;
             storage.dir must be absolute)
  uninstall  remove the OS service
  start, stop, restart
             control the OS service
  status     print running, stopped or not installed
  unit       print the systemd unit (used by the .deb)
  version    print version information
`)
}

func versionString() string {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	return fmt.Sprintf("tapedeck %s (commit %s, built %s) %s %s/%s", Version, orNone(commit), orNone(Date), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// findConfig returns the explicit path, else ./tapedeck.yaml, else
// /etc/tapedeck/tapedeck.yaml, else "" (embedded defaults).
func findConfig(explicit string) string {
	if explicit != "" {
		return explicit
	}
	for _, p := range []string{"tapedeck.yaml", "/etc/tapedeck/tapedeck.yaml"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	configPath := findConfig(*path)
	if ok, code := runAsService(configPath); ok {
		return code
	}
	return runUntil(configPath, stderr, nil)
}

// runUntil runs the appliance until SIGINT/SIGTERM (or until stop is
// closed, for service managers), reloading on SIGHUP or when the file
// changes. It returns the exit code.
func runUntil(configPath string, stderr io.Writer, stop <-chan struct{}) int {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := NewLogger(cfg.Log)
	// Catch signals before the listeners open: a SIGTERM right after start
	// must shut down cleanly, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	a := New(cfg, log)
	if err := a.Start(); err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	changed := watchFile(configPath, 2*time.Second, stop)
	reload := func(why string) {
		next, err := ReloadConfig(configPath, a.Config())
		if err != nil {
			// One line per problem, as check prints them.
			for _, line := range problemLines(err) {
				log.Error("reload refused; keeping the running config", "why", why, "problem", line)
			}
			return
		}
		a.Reload(next)
	}
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload("SIGHUP")
				continue
			}
			log.Info("shutting down", "signal", s.String())
		case <-changed:
			reload("file changed")
			continue
		case <-stop:
			log.Info("shutting down", "reason", "service stop")
		case err := <-a.Done():
			log.Error("server failed", "err", err)
			a.Shutdown(5 * time.Second)
			return 1
		}
		break
	}
	if err := a.Shutdown(10 * time.Second); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return 0
}

// watchFile signals when path's modification time or size changes. It
// polls: cheap, and it works on every OS and with editors that replace
// the file.
func watchFile(path string, every time.Duration, stop <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{}, 1)
	if path == "" {
		return ch
	}
	stamp := func() (time.Time, int64) {
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return fi.ModTime(), fi.Size()
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		mod, size := stamp()
		for {
			select {
			case <-t.C:
			case <-stop:
				return
			}
			m, s := stamp()
			if !m.Equal(mod) || s != size {
				mod, size = m, s
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := LoadConfig(findConfig(*path)); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

func cmdUnit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("unit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exe := fs.String("exe", "/usr/bin/tapedeck", "binary path")
	path := fs.String("c", "/etc/tapedeck/tapedeck.yaml", "config file")
	user := fs.String("user", "tapedeck", "user to run as (\"\" for root)")
	storage := fs.String("storage", "/var/lib/tapedeck", "storage dir (writable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	io.WriteString(stdout, SystemdUnit(*exe, *path, *user, *storage))
	return 0
}
