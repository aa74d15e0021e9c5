package appliance

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one verb of the command line: what `tapedeck help` lists
// and `tapedeck help VERB` (or `VERB --help`) explains.
type command struct {
	name    string
	args    string // after the verb: "[-c FILE]"
	summary string // one line (or two) in the command list
	about   string // what it does, for the verb's own help
	example string
}

// defaultConfigPaths are where run and check look without -c, in order.
var defaultConfigPaths = []string{"tapedeck.yaml", "/etc/tapedeck/tapedeck.yaml"}

// serviceConfigPath is the config the service verbs use without -c.
const serviceConfigPath = "/etc/tapedeck/tapedeck.yaml"

// commands lists the verbs in the order help shows them.
var commands = []command{
	{"run", "[-c FILE]", "run in the foreground (default)",
		"Runs the appliance in the foreground until SIGINT or SIGTERM. SIGHUP, or a change to\n" +
			"the config file, reloads it; a file with problems is refused and the running\n" +
			"config kept. Without -c it uses ./tapedeck.yaml, then /etc/tapedeck/tapedeck.yaml,\n" +
			"else the embedded default config, and logs which.",
		"tapedeck run -c /etc/tapedeck/tapedeck.yaml"},
	{"check", "[-c FILE]", "validate a config file",
		"Loads the config as run would (the file, then TAPEDECK_* environment overrides)\n" +
			"and prints every problem in one pass, one per line as FILE: key.path: problem\n" +
			"(or \"environment TAPEDECK_X: ...\" for a variable's value). Exit 0 and \"ok: WHAT\"\n" +
			"when it loads, 1 when it does not. Without -c it checks what run would load.",
		"tapedeck check -c tapedeck.yaml"},
	{"config", "", "print the default config",
		"Prints the embedded default configuration, every key with a comment: a\n" +
			"starting point for a file.",
		"tapedeck config > tapedeck.yaml"},
	{"install", "[-c FILE]", "install as an OS service (systemd, SysV init, launchd, Windows) running -c FILE\n" +
		"             (written if absent; made root:tapedeck 0640; runs as user tapedeck;\n" +
		"             storage.dir must be absolute)",
		"Installs the OS service that runs `tapedeck run -c FILE` and prints what it\n" +
			"wrote: the unit or init script, the config (written with storage.dir\n" +
			"/var/lib/tapedeck if absent; made root:tapedeck 0640), the service user\n" +
			"(tapedeck, created if missing). Needs root. Start it with `tapedeck start`.",
		"sudo tapedeck install -c /etc/tapedeck/tapedeck.yaml && sudo tapedeck start"},
	{"uninstall", "[-c FILE]", "remove the OS service",
		"Removes the OS service. The config, the recordings and the user stay.",
		"sudo tapedeck uninstall"},
	{"start", "[-c FILE]", "start the OS service", "Starts the installed OS service.", "sudo tapedeck start"},
	{"stop", "[-c FILE]", "stop the OS service", "Stops the installed OS service.", "sudo tapedeck stop"},
	{"restart", "[-c FILE]", "restart the OS service",
		"Restarts the installed OS service (a config change needs no restart: it is\n" +
			"reloaded).", "sudo tapedeck restart"},
	{"status", "[-c FILE]", "print running, stopped or not installed",
		"Prints the service's state. Exit codes as LSB init scripts give them:\n" +
			"0 running, 3 stopped, 4 not installed (1 when it cannot be told).",
		"tapedeck status || echo \"not running ($?)\""},
	{"unit", "[-exe PATH] [-c FILE] [-user NAME] [-storage DIR]", "print the systemd unit (used by the .deb)",
		"Prints the systemd unit install writes and the .deb ships.",
		"tapedeck unit -exe /usr/local/bin/tapedeck > /etc/systemd/system/tapedeck.service"},
	{"hash-password", "", "print the bcrypt hash of a password read from stdin, for http.users",
		"Reads one line (the password) from stdin and prints its bcrypt hash, for\n" +
			"http.users[].password_hash (the web console's sign-in). The password is never\n" +
			"an argument, so it stays out of the shell history and the process list.",
		"read -rs PW; printf '%s' \"$PW\" | tapedeck hash-password"},
	{"man", "", "print the manual page (used by the .deb)",
		"Prints tapedeck(1) in man(7) format, made from the same text as this help.",
		"tapedeck man | man -l -"},
	{"version", "", "print version information (also -v, --version)",
		"Prints the version, the commit, the build date, the Go version and OS/arch.",
		"tapedeck --version"},
	{"help", "[COMMAND]", "list the commands, or explain one",
		"Without a command, lists the commands; with one, says what it does, its flags\n" +
			"and an example (as COMMAND --help does).",
		"tapedeck help install"},
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagsFor returns verb's flag set, its flags defined and not parsed. Each
// verb reads its flags from it, and its help lists them.
func flagsFor(verb string) *flag.FlagSet {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.Usage = func() {} // parseVerb prints help and usage itself
	switch verb {
	case "run", "check":
		fs.String("c", "", "config `file` (default: ./tapedeck.yaml, then /etc/tapedeck/tapedeck.yaml, else the embedded default)")
		if verb == "run" {
			fs.String("user", "", "started as root, switch to this `user` first (Linux; what install's SysV/OpenRC script passes)")
		}
	case "install", "uninstall", "start", "stop", "restart", "status":
		fs.String("c", serviceConfigPath, "config `file` the service runs with")
	case "unit":
		fs.String("exe", "/usr/bin/tapedeck", "binary `path`")
		fs.String("c", serviceConfigPath, "config `file`")
		fs.String("user", serviceUser, "`user` to run as (\"\" for root)")
		fs.String("storage", serviceHome, "storage `dir` (writable)")
	}
	return fs
}

// parseVerb parses args for verb. It returns the flags, or false and the
// exit code when it has answered already: 0 after --help (the verb's help
// on stdout), 2 for a bad flag or an argument that is not a flag.
func parseVerb(verb string, args []string, stdout, stderr io.Writer) (*flag.FlagSet, int, bool) {
	fs := flagsFor(verb)
	fs.SetOutput(stderr)
	c, _ := lookupCommand(verb)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			verbHelp(stdout, c)
			return nil, 0, false
		}
		fmt.Fprintf(stderr, "usage: tapedeck %s\nrun 'tapedeck help %s' for details\n", strings.TrimSpace(c.name+" "+c.args), verb)
		return nil, 2, false
	}
	if fs.NArg() > 0 {
		extra := fs.Arg(0)
		hint := ""
		if strings.HasSuffix(extra, ".yaml") || strings.HasSuffix(extra, ".yml") {
			hint = fmt.Sprintf(" (a config file is given as -c %s)", extra)
		}
		fmt.Fprintf(stderr, "tapedeck %s: unexpected argument %q%s\nusage: tapedeck %s\n", verb, extra, hint, strings.TrimSpace(c.name+" "+c.args))
		return nil, 2, false
	}
	return fs, 0, true
}

// flagValue is a parsed flag's value.
func flagValue(fs *flag.FlagSet, name string) string {
	return fs.Lookup(name).Value.String()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tapedeck [command] [-c file]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		if c.name == "start" {
			fmt.Fprintln(w, "  start, stop, restart\n             control the OS service")
		}
		if c.name == "start" || c.name == "stop" || c.name == "restart" {
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "run 'tapedeck help COMMAND' (or 'tapedeck COMMAND --help') for its flags and an example")
}

// verbHelp explains one command: usage, what it does, flags, example.
func verbHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: tapedeck %s\n\n%s\n", strings.TrimSpace(c.name+" "+c.args), c.about)
	fs := flagsFor(c.name)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nexample:\n  %s\n", c.example)
}

// cmdHelp is `tapedeck help [COMMAND]`.
func cmdHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return 0
	case 1:
		if c, ok := lookupCommand(args[0]); ok {
			verbHelp(stdout, c)
			return 0
		}
		fmt.Fprintf(stderr, "tapedeck help: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	fmt.Fprintf(stderr, "tapedeck help: one command at a time (got %q)\nusage: tapedeck help [COMMAND]\n", args)
	return 2
}
