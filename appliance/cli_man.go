package appliance

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// manPage writes tapedeck(1) in man(7) format from the same table the
// built-in help prints, so that `man tapedeck` (the .deb ships it) and
// `tapedeck help VERB` cannot drift apart.
func manPage(w io.Writer) {
	date := ""
	if t, err := time.Parse(time.RFC3339, Date); err == nil {
		date = t.UTC().Format("2006-01-02")
	}
	fmt.Fprintf(w, ".TH TAPEDECK 1 \"%s\" \"tapedeck %s\" \"User Commands\"\n", date, roffEscape(Version))
	fmt.Fprint(w, `.SH NAME
tapedeck \- RTMP recording and restreaming appliance
.SH SYNOPSIS
.B tapedeck
.RI [ command ]
.RB [ \-c
.IR file ]
.SH DESCRIPTION
tapedeck is an RTMP server that records every stream to disk (fMP4, MP4 or
FLV segments), serves any number of players, restreams to other RTMP(S)
servers, pulls IP cameras over RTSP and plays recordings back.
One YAML file configures it; without a command it runs in the foreground.
.SH COMMANDS
`)
	for _, c := range commands {
		fmt.Fprintf(w, ".SS \"%s\"\n", roffEscape(strings.TrimSpace("tapedeck "+c.name+" "+c.args)))
		fmt.Fprintln(w, roffText(c.about))
		fs := flagsFor(c.name)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, ".TP\n.BI \"\\-%s \" %s\n%s", roffEscape(f.Name), roffEscape(name), roffText(usage))
			if f.DefValue != "" {
				fmt.Fprintf(w, " (default: %s)", roffEscape(f.DefValue))
			}
			fmt.Fprintln(w)
		})
		fmt.Fprintf(w, ".PP\nExample:\n.PP\n.RS\n.nf\n%s\n.fi\n.RE\n", roffText(c.example))
	}
	fmt.Fprint(w, `.SH FILES
.TP
.I /etc/tapedeck/tapedeck.yaml
the configuration (root:tapedeck 0640: it may hold stream keys and the API
token); `+"`tapedeck config`"+` prints the commented defaults
.TP
.I /var/lib/tapedeck
the recordings, as the package and install set
.B storage.dir
.SH ENVIRONMENT
.TP
.B TAPEDECK_*
override a key of the file: TAPEDECK_ and the key path in upper case with
underscores, e.g. TAPEDECK_RTMP_LISTEN=:1936; a list as a,b
.SH EXIT STATUS
0 on success, 1 when the config does not load or the command fails, 2 for a
usage error.
.B status
exits 0 running, 3 stopped, 4 not installed.
.SH SEE ALSO
https://github.com/tapedeck/tapedeck
`)
}

// roffEscape makes s safe inside a man(7) line: backslashes, and dashes
// as the minus signs of flags.
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffText is roffEscape for running text, with lines that would start
// with a control character ('.' or '\”) guarded.
func roffText(s string) string {
	lines := strings.Split(roffEscape(s), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
