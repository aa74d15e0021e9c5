package appliance_test

import (
	"os"
	"strings"
	"testing"
)

// -v, --version and version print the same one line.
func TestCLIVersionFlags(t *testing.T) {
	_, want, _ := runMain(t, "version")
	for _, arg := range []string{"-v", "--version", "-version"} {
		code, out, errOut := runMain(t, arg)
		if code != 0 || errOut != "" || out != want || !strings.HasPrefix(out, "tapedeck ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and %q", arg, code, out, errOut, want)
		}
	}
}

// Each verb's help (help VERB, VERB --help, VERB -h) is on stdout with exit
// 0, and says what the verb does, its flags and an example.
func TestCLIVerbHelp(t *testing.T) {
	verbs := map[string][]string{ // verb: the flags its help must list
		"run": {"-c"}, "check": {"-c"}, "config": nil, "install": {"-c"}, "uninstall": {"-c"},
		"start": {"-c"}, "stop": {"-c"}, "restart": {"-c"}, "status": {"-c"},
		"unit": {"-exe", "-c", "-user", "-storage"}, "man": nil, "version": nil, "help": nil,
	}
	about := map[string]string{ // a phrase of what the verb does
		"check": "every problem in one pass", "install": "prints what it", "status": "0 running, 3 stopped, 4 not installed",
		"run": "SIGHUP", "config": "default configuration",
	}
	for verb, flags := range verbs {
		code, help, errOut := runMain(t, "help", verb)
		if code != 0 || errOut != "" {
			t.Errorf("help %s: exit %d, stderr %q", verb, code, errOut)
			continue
		}
		if !strings.HasPrefix(help, "usage: tapedeck "+verb) || !strings.Contains(help, "\nexample:\n  ") {
			t.Errorf("help %s lacks the usage line or an example:\n%s", verb, help)
		}
		if len(strings.Split(help, "\n")) < 6 {
			t.Errorf("help %s is thin:\n%s", verb, help)
		}
		if a := about[verb]; a != "" && !strings.Contains(help, a) {
			t.Errorf("help %s does not say %q:\n%s", verb, a, help)
		}
		for _, f := range flags {
			if !strings.Contains(help, "\n  "+f+" ") {
				t.Errorf("help %s does not list the flag %s:\n%s", verb, f, help)
			}
		}
		if (len(flags) > 0) != strings.Contains(help, "\nflags:\n") {
			t.Errorf("help %s: a flags section %v, want %v", verb, !strings.Contains(help, "\nflags:\n"), len(flags) > 0)
		}
		if verb == "help" {
			continue // help --help is the command list
		}
		for _, h := range []string{"--help", "-h"} {
			if code, out, errOut := runMain(t, verb, h); code != 0 || errOut != "" || out != help {
				t.Errorf("%s %s: exit %d, stderr %q, stdout:\n%s\nwant 0 and what help %s prints", verb, h, code, errOut, out, verb)
			}
		}
	}
	if code, out, errOut := runMain(t, "help", "frobnicate"); code != 2 || out != "" || !strings.HasPrefix(errOut, "tapedeck help: unknown command \"frobnicate\"\n") {
		t.Errorf("help frobnicate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runMain(t, "help"); code != 0 || !strings.Contains(out, "'tapedeck help COMMAND'") {
		t.Errorf("help: exit %d, the list does not say how to get a command's help:\n%s", code, out)
	}
}

// Arguments that are not flags are refused with a usage error rather than
// ignored: "check foo.yaml" would otherwise check something else.
func TestCLIExtraArguments(t *testing.T) {
	good := writeConfig(t, "good.yaml", goodConfig)
	cases := []struct {
		args []string
		want string // start of stderr
	}{
		{[]string{"check", "foo.yaml"}, "tapedeck check: unexpected argument \"foo.yaml\" (a config file is given as -c foo.yaml)\nusage: tapedeck check [-c FILE]\n"},
		{[]string{"check", "-c", good, "extra"}, "tapedeck check: unexpected argument \"extra\"\nusage: tapedeck check [-c FILE]\n"},
		{[]string{"run", "-c", good, "now"}, "tapedeck run: unexpected argument \"now\"\n"},
		{[]string{"config", "x"}, "tapedeck config: unexpected argument \"x\"\n"},
		{[]string{"version", "x"}, "tapedeck version: unexpected argument \"x\"\n"},
		{[]string{"status", "x"}, "tapedeck status: unexpected argument \"x\"\n"},
		{[]string{"unit", "x"}, "tapedeck unit: unexpected argument \"x\"\n"},
		{[]string{"help", "check", "run"}, "tapedeck help: one command at a time"},
		{[]string{"check", "-x"}, "flag provided but not defined: -x\nusage: tapedeck check [-c FILE]\nrun 'tapedeck help check' for details\n"},
	}
	for _, c := range cases {
		code, out, errOut := runMain(t, c.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and stderr starting %q", c.args, code, out, errOut, c.want)
		}
	}
}

// check with no file found says it checked the embedded default, and names
// the TAPEDECK_* variables applied (never their values: one may be the
// token).
func TestCLICheckWithoutFile(t *testing.T) {
	if _, err := os.Stat("/etc/tapedeck/tapedeck.yaml"); err == nil {
		t.Skip("this machine has /etc/tapedeck/tapedeck.yaml, which check would find")
	}
	t.Chdir(t.TempDir())
	const what = "ok: the embedded default config (no -c given, and no ./tapedeck.yaml or /etc/tapedeck/tapedeck.yaml found)"
	if code, out, errOut := runMain(t, "check"); code != 0 || errOut != "" || out != what+"\n" {
		t.Errorf("check without a file: exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, what)
	}
	t.Setenv("TAPEDECK_HTTP_TOKEN", "s3cret-token")
	t.Setenv("TAPEDECK_RTMP_LISTEN", ":1936")
	want := what + " with TAPEDECK_HTTP_TOKEN, TAPEDECK_RTMP_LISTEN\n"
	if code, out, _ := runMain(t, "check"); code != 0 || out != want {
		t.Errorf("check with env overrides: exit %d, stdout %q; want %q", code, out, want)
	}
}
