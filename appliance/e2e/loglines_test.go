//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// The log lines a user reads, from the built binary's text log: a real
// ffmpeg publish that is recorded, three real players (ffprobe to its
// end, ffmpeg killed mid-play so the socket is reset, rtmpdump with a
// play duration) and a connect to an app that does not exist. The same
// run checks that live players get no file duration in onMetaData.

// logLine is one parsed slog text line.
type logLine struct {
	raw   string
	attrs map[string]string
}

func (l logLine) get(k string) string { return l.attrs[k] }

// parseLogLine splits a slog text line into its key=value pairs (values
// quoted with strconv.Quote when they need it); it fails on a key given
// twice or on text that is not key=value.
func parseLogLine(s string) (logLine, error) {
	l := logLine{raw: s, attrs: map[string]string{}}
	rest := s
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 || strings.ContainsAny(rest[:eq], " \"") {
			return l, fmt.Errorf("not key=value at %q", rest)
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return l, fmt.Errorf("value of %s: %v", key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		rest = strings.TrimPrefix(rest, " ")
		if _, dup := l.attrs[key]; dup {
			return l, fmt.Errorf("key %q given twice", key)
		}
		l.attrs[key] = val
	}
	return l, nil
}

// parseLog parses every line of a log; a line that does not parse, or
// repeats a key, fails the test.
func parseLog(t *testing.T, log string) []logLine {
	t.Helper()
	var lines []logLine
	for _, s := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		l, err := parseLogLine(s)
		if err != nil {
			t.Errorf("log line %q: %v", s, err)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		key, is string
	}{
		{`time=2026-12-03T12:24:35.411Z level=INFO msg="segment closed" app=live stream=cam1 format=fmp4`, true, "msg", "segment closed"},
		{`level=INFO msg=x err="read tcp: \"a b\""`, true, "err", `read tcp: "a b"`},
		{`msg="segment closed" app=live stream=cam1 app=live stream=cam1`, false, "", ""},
		{`level=INFO garbage`, false, "", ""},
	} {
		l, err := parseLogLine(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && l.get(tc.key) != tc.is {
			t.Errorf("%q: %s=%q, want %q", tc.in, tc.key, l.get(tc.key), tc.is)
		}
	}
}

func TestLogLinesBinary(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	testenv.NeedTool(t, "rtmpdump")
	bin := tapedeckBinary(t)
	p := hardStart(t, bin, `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
log:
  level: debug
storage:
  dir: "{storage}"
apps:
  live:
    republish_grace: 1s
    record:
      enabled: true
      segment:
        duration: 2s
`)
	url := "rtmp://" + p.rtmpAddr + "/live/cam1"
	pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(url, 7)...)
	hardWaitPublishing(t, p, "live/cam1", nil)

	// ffprobe reads 2 s and ends; rtmpdump plays for 2 s (its play
	// duration); ffmpeg is killed while data flows, so its socket is reset.
	// The killed ffmpeg goes first and is killed 1.5 s after the server
	// has it as a player, however long it took to start.
	killed := startTool(t, 30*time.Second, nil, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url, "-f", "null", "-")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := hardRequest(t, "GET", "http://"+p.httpAddr+"/api/v1/streams/live/cam1", nil, "")
		if strings.Contains(body, `"players": 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ffmpeg player is not playing after 15 s: %s", body)
		}
	}
	probe := startTool(t, 30*time.Second, nil, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
		"-read_intervals", "%+2", url)
	dump := startTool(t, 30*time.Second, nil, "rtmpdump", "-r", url, "--live", "--stop", "2", "-o", filepath.Join(t.TempDir(), "dump.flv"))
	time.Sleep(1500 * time.Millisecond)
	killed.cmd.Process.Signal(syscall.SIGKILL)
	rejected := runTool(t, 15*time.Second, nil, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "rtmp://"+p.rtmpAddr+"/nope/x", "-f", "null", "-")
	probe.wait()
	dump.wait()
	pub.wait()
	if pub.err != nil {
		t.Fatalf("publisher: %s", pub.status())
	}
	hardWaitLog(t, p, `msg="recording stopped"`, 15*time.Second)
	testenv.Eventually(t, 10*time.Second, "three play ended lines", func() bool {
		return strings.Count(p.logs.String(), `msg="play ended"`) == 3
	})

	// Live players get no duration (ffmpeg -t 7 announces one): ffprobe
	// shows none, rtmpdump does not call its download incomplete.
	var probed testenv.Probe
	if err := json.Unmarshal([]byte(probe.stdout.String()), &probed); err != nil {
		t.Errorf("ffprobe output: %v\n%s", err, probe.stdout.String())
	} else if d := probed.Format.Duration; d != "" && d != "N/A" {
		t.Errorf("ffprobe of a live stream shows a duration %q", d)
	}
	if e := dump.stderr.String(); strings.Contains(e, "duration ") || strings.Contains(e, "filesize ") || strings.Contains(e, "may be incomplete") {
		t.Errorf("rtmpdump got a file's duration or size in the live onMetaData:\n%s", excerpt(e, 30, nil))
	}

	// The client sees the refusal's reason once.
	if e := rejected.stderr.String(); !strings.Contains(e, `Connection rejected: app "nope" is not configured`) || strings.Count(e, "rejected") != 1 {
		t.Errorf("ffmpeg's error for an unknown app, want one %q:\n%s", `Connection rejected: app "nope" is not configured`, e)
	}

	lines := parseLog(t, p.logs.String())
	count := map[string]int{}
	for _, l := range lines {
		count[l.get("msg")]++
		lvl := l.get("level")
		// Disconnects of clients are no news at INFO or WARN.
		if lvl != "DEBUG" {
			if e := l.get("err"); strings.Contains(e, "reset by peer") || strings.Contains(e, "broken pipe") || strings.Contains(e, "EOF") {
				t.Errorf("a disconnect at %s: %s", lvl, l.raw)
			}
			if l.get("msg") == "rtmp connection closed" {
				t.Errorf("connection close at %s: %s", lvl, l.raw)
			}
		}
		if strings.Contains(l.raw, "rejected: rejected") {
			t.Errorf("refusal said twice: %s", l.raw)
		}
	}
	for msg, want := range map[string]int{"publish started": 1, "publish ended": 1, "play started": 3, "play ended": 3,
		"recording started": 1, "recording stopped": 1, "rtmp connect rejected": 1, "segment done": 0} {
		if count[msg] != want {
			t.Errorf("%d %q lines, want %d", count[msg], msg, want)
		}
	}

	for _, l := range lines {
		if l.get("msg") == "publish ended" {
			if n, _ := strconv.ParseUint(l.get("bytes"), 10, 64); n < 100_000 || (l.get("reason") != "unpublished" && l.get("reason") != "client left") {
				t.Errorf("publish ended line, want bytes and reason unpublished or client left: %s", l.raw)
			}
		}
	}

	// One "segment closed" per file, and each file named by one.
	var files []string
	filepath.Walk(p.storage, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && strings.HasSuffix(path, ".mp4") {
			files = append(files, path)
		}
		return nil
	})
	closed := map[string]int{}
	for _, l := range lines {
		if l.get("msg") == "segment closed" {
			closed[l.get("path")]++
			if l.get("app") != "live" || l.get("stream") != "cam1" || l.get("format") != "fmp4" {
				t.Errorf("segment closed line without app, stream, format: %s", l.raw)
			}
		}
	}
	if len(files) < 2 || len(closed) != len(files) {
		t.Errorf("%d segment files %v, %d segment closed lines %v", len(files), files, len(closed), closed)
	}
	for path, n := range closed {
		if n != 1 {
			t.Errorf("segment %s closed %d times in the log", path, n)
		}
	}

	// "play ended": stream, how long, how much, why; an ordinary
	// disconnect is a reason, never an error. How long can be well under
	// the 2 s the players read: the GOP cache hands a joiner up to a GOP
	// (2 s) at once.
	reasons := map[string]int{}
	for _, l := range lines {
		if l.get("msg") != "play ended" {
			continue
		}
		d, err := time.ParseDuration(l.get("duration"))
		n, _ := strconv.ParseUint(l.get("bytes"), 10, 64)
		if err != nil || d <= 0 || d > 20*time.Second || n < 10_000 || l.get("stream") != "cam1" || l.get("level") != "INFO" {
			t.Errorf("play ended line: duration %q, bytes %q: %s", l.get("duration"), l.get("bytes"), l.raw)
		}
		if l.get("messages") == "" || l.get("skips") == "" {
			t.Errorf("play ended without messages and skips: %s", l.raw)
		}
		if l.get("err") != "" {
			t.Errorf("play ended with an error: %s", l.raw)
		}
		reasons[l.get("reason")]++
	}
	if reasons["client left"]+reasons["client stopped"]+reasons["duration reached"] != 3 {
		t.Errorf("play ended reasons %v, want client left / client stopped / duration reached", reasons)
	}
}
