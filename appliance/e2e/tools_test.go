//go:build linux

package e2e

// External clients (ffmpeg, ffprobe, rtmpdump, gst-launch) run under
// deadlines, their output kept for failure reports, and the arguments of
// the test publisher.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// maxToolTime bounds every external process.
const maxToolTime = 60 * time.Second

// excerpt returns at most maxLines lines of s, leaving out lines for which
// skip is true, and says how many were cut.
func excerpt(s string, maxLines int, skip func(string) bool) string {
	var out []string
	cut := 0
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if skip != nil && skip(l) {
			continue
		}
		if len(out) >= maxLines {
			cut++
			continue
		}
		if len(l) > 500 { // e.g. rtmpdump's \r-separated progress: keep the end
			l = "[...]" + l[len(l)-500:]
		}
		out = append(out, l)
	}
	if cut > 0 {
		out = append(out, fmt.Sprintf("[... %d more lines]", cut))
	}
	return strings.Join(out, "\n")
}

// ---- external processes ----

// toolRun is one external client run under a deadline. When the deadline
// passes (or stop is called) it gets SIGINT, which ffmpeg, rtmpdump and
// gst-launch handle by finishing their output; SIGKILL follows 5 s later.
type toolRun struct {
	name    string
	args    []string
	cmd     *exec.Cmd
	ctx     context.Context
	cancel  context.CancelFunc
	stdout  *testenv.SyncBuf
	stderr  *testenv.SyncBuf
	started time.Time
	done    chan struct{}

	quietStdout bool // leave stdout out of failure reports (ffprobe JSON)

	// Valid once done is closed.
	err         error
	elapsed     time.Duration
	exitCode    int
	interrupted bool // ended by our deadline or stop, not on its own
}

func launchTool(limit time.Duration, env []string, name string, args ...string) (*toolRun, error) {
	if limit > maxToolTime {
		limit = maxToolTime
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	r := &toolRun{
		name: name, args: args, cmd: cmd, ctx: ctx, cancel: cancel,
		stdout: &testenv.SyncBuf{Max: 4 << 20}, stderr: &testenv.SyncBuf{Max: 4 << 20},
		done: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		r.elapsed = time.Since(r.started)
		r.err = err
		r.exitCode = cmd.ProcessState.ExitCode()
		r.interrupted = ctx.Err() != nil
		cancel()
		close(r.done)
	}()
	return r, nil
}

// startTool launches a client for the test; it is stopped at the end of the
// test and its output is logged if the test failed.
func startTool(t testing.TB, limit time.Duration, env []string, name string, args ...string) *toolRun {
	t.Helper()
	r, err := launchTool(limit, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s", r.report())
		}
	})
	return r
}

// runTool runs a client to completion (or its deadline).
func runTool(t testing.TB, limit time.Duration, env []string, name string, args ...string) *toolRun {
	t.Helper()
	r := startTool(t, limit, env, name, args...)
	r.wait()
	return r
}

func (r *toolRun) wait() *toolRun { <-r.done; return r }

// stop interrupts the process and waits for it.
func (r *toolRun) stop() { r.cancel(); <-r.done }

func (r *toolRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// remaining is how long until the deadline interrupts the process.
func (r *toolRun) remaining() time.Duration {
	d, _ := r.ctx.Deadline()
	return time.Until(d)
}

func (r *toolRun) status() string {
	select {
	case <-r.done:
	default:
		return "still running"
	}
	how := "exited on its own"
	if r.interrupted {
		how = "interrupted by the test"
	}
	return fmt.Sprintf("%s after %v, exit code %d, err %v", how, r.elapsed.Round(time.Millisecond), r.exitCode, r.err)
}

func (r *toolRun) report() string {
	// Leave out rtmpdump's packet dumps and GStreamer's debug log.
	noise := func(l string) bool { return strings.HasPrefix(l, "DEBUG2:") || gstDebugLine.MatchString(l) }
	stdout := excerpt(r.stdout.String(), 25, nil)
	if r.quietStdout {
		stdout = fmt.Sprintf("[%d bytes, not shown]", r.stdout.Len())
	}
	return fmt.Sprintf("$ %s %s\n%s\n--- stdout:\n%s\n--- stderr:\n%s", r.name, strings.Join(r.args, " "), r.status(),
		stdout, excerpt(r.stderr.String(), 150, noise))
}

var gstDebugLine = regexp.MustCompile(`^\d+:\d\d:\d\d\.\d+ +\d+ +0x[0-9a-f]+ +(LOG|DEBUG|TRACE) `)

// publisherArgs are the ffmpeg arguments of the test publisher: seconds of
// 640x360 at 25 fps with a 2 s GOP, plus AAC audio, in real time.
func publisherArgs(url string, seconds int) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k",
		"-f", "flv", url,
	}
}

// parseClock parses a GStreamer clock time such as 0:00:01.240000000.
func parseClock(s string) (float64, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, errors.New("not h:mm:ss.nnnnnnnnn: " + s)
	}
	var total float64
	for _, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, err
		}
		total = total*60 + v
	}
	return total, nil
}
