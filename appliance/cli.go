package appliance

import (
	"errors"
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
  run      run in the foreground (default)
  check    validate a config file
  config   print the default config
  version  print version information
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
	cfg, err := LoadConfig(findConfig(*path))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := NewLogger(cfg.Log)
	a := New(cfg, log)
	if err := a.Start(); err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-a.Done():
		if err != nil {
			log.Error("rtmp server failed", "err", err)
			return 1
		}
	}
	if err := a.Shutdown(10 * time.Second); err != nil && !errors.Is(err, os.ErrClosed) {
		log.Warn("shutdown incomplete", "err", err)
	}
	return 0
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
