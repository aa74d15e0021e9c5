package appliance

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
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
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "-help":
			return cmdHelp(args[1:], stdout, stderr)
		case "-v", "--version", "-version":
			args = append([]string{"version"}, args[1:]...)
		}
	}
	verb := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "run":
		return cmdRun(args, stdout, stderr)
	case "check":
		return cmdCheck(args, stdout, stderr)
	case "config":
		if _, code, ok := parseVerb(verb, args, stdout, stderr); !ok {
			return code
		}
		stdout.Write(defaultYAML)
		return 0
	case "install", "uninstall", "start", "stop", "restart", "status":
		return cmdService(verb, args, stdout, stderr)
	case "unit":
		return cmdUnit(args, stdout, stderr)
	case "hash-password":
		if _, code, ok := parseVerb(verb, args, stdout, stderr); !ok {
			return code
		}
		return cmdHashPassword(os.Stdin, stdout, stderr)
	case "man":
		if _, code, ok := parseVerb(verb, args, stdout, stderr); !ok {
			return code
		}
		manPage(stdout)
		return 0
	case "version":
		if _, code, ok := parseVerb(verb, args, stdout, stderr); !ok {
			return code
		}
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		return cmdHelp(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "tapedeck: unknown command %q\n", verb)
	usage(stderr)
	return 2
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
	for _, p := range defaultConfigPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs, code, ok := parseVerb("run", args, stdout, stderr)
	if !ok {
		return code
	}
	if u := flagValue(fs, "user"); u != "" {
		// Before the config is read: the service reads it as its group.
		if err := dropPrivileges(u); err != nil {
			fmt.Fprintf(stderr, "tapedeck run: %v\n", err)
			return 1
		}
	}
	configPath := findConfig(flagValue(fs, "c"))
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
	if limit := tuneGC(); limit > 0 {
		log.Debug("garbage collector soft memory limit", "bytes", limit)
	}
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
	fs, code, ok := parseVerb("check", args, stdout, stderr)
	if !ok {
		return code
	}
	path := findConfig(flagValue(fs, "c"))
	if _, err := LoadConfig(path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Say what was checked: "ok" alone, when no file was found, reads as
	// if the file the user meant had been.
	what := path
	if path == "" {
		looked := make([]string, len(defaultConfigPaths))
		for i, p := range defaultConfigPaths {
			looked[i] = p
			if !filepath.IsAbs(p) {
				looked[i] = "./" + p
			}
		}
		what = "the embedded default config (no -c given, and no " + strings.Join(looked, " or ") + " found)"
	}
	if env := configEnvVars(); len(env) > 0 {
		what += " with " + strings.Join(env, ", ")
	}
	fmt.Fprintln(stdout, "ok: "+what)
	return 0
}

func cmdUnit(args []string, stdout, stderr io.Writer) int {
	fs, code, ok := parseVerb("unit", args, stdout, stderr)
	if !ok {
		return code
	}
	io.WriteString(stdout, SystemdUnit(flagValue(fs, "exe"), flagValue(fs, "c"), flagValue(fs, "user"), flagValue(fs, "storage")))
	return 0
}
