//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestE2EGracePlayers: four independent players — ffmpeg, rtmpdump,
// GStreamer (rtmp2src) and VLC — play one stream while its publisher is
// killed and a fresh one publishes the same name within the republish
// grace (the default 10 s), 3 s later. Each must still be running and
// have decoded frames of the second publish: its video timestamps never go
// backwards, show one step at the splice (the time the stream was away,
// cut to 2 s), and carry at least 2 s of each publish.
func TestE2EGracePlayers(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe", "rtmpdump", "gst-launch-1.0", "cvlc"} {
		testenv.NeedTool(t, tool)
	}
	srv := sharedServer(t)
	srv.watch(t)
	const name = "grace-players"
	url := srv.url("live", name)
	dir := worldWritableDir(t) // VLC runs as nobody when we are root

	first := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(url, 30)...)
	srv.waitPublishing(t, "live", name, first, 10*time.Second)

	players := []*gracePlayer{
		{name: "ffmpeg", run: startTool(t, 40*time.Second, nil, "ffmpeg",
			"-hide_banner", "-loglevel", "error", "-i", url, "-map", "0:v", "-f", "framecrc", "-")},
		{name: "rtmpdump", file: filepath.Join(dir, "rtmpdump.flv")},
		{name: "GStreamer", run: startTool(t, 40*time.Second, []string{"GST_DEBUG=basesink:5", "GST_DEBUG_NO_COLOR=1"},
			"gst-launch-1.0", "rtmp2src", "location="+url, "!", "flvdemux", "name=d",
			"d.video", "!", "queue", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "name=vsink", "sync=false",
			"d.audio", "!", "queue", "!", "fakesink", "name=asink", "sync=false")},
		{name: "VLC", file: filepath.Join(dir, "vlc.ts")},
	}
	players[1].run = startTool(t, 40*time.Second, nil, "rtmpdump", "--live", "-q", "-r", url, "-o", players[1].file)
	players[3].run, players[3].stop = startVLC(t, 40*time.Second, url, "--sout", "#std{access=file,mux=ts,dst="+players[3].file+"}")

	// The players play the first publish for a while; then it drops.
	testenv.Eventually(t, 10*time.Second, "the four players to play", func() bool {
		st, _ := srv.stats("live", name)
		return st.Players >= len(players)
	})
	time.Sleep(2500 * time.Millisecond)
	for _, p := range players {
		if p.run.exited() {
			t.Fatalf("%s ended while the first publisher was live: %s", p.name, p.run.status())
		}
	}
	first.cmd.Process.Kill()
	first.wait()
	dropped := time.Now()
	testenv.Eventually(t, 3*time.Second, "the stream to stop publishing", func() bool {
		st, ok := srv.stats("live", name)
		return ok && !st.Publishing
	})

	time.Sleep(3*time.Second - time.Since(dropped))
	second := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(url, 30)...)
	srv.waitPublishing(t, "live", name, second, 10*time.Second)
	t.Logf("republished %v after the drop", time.Since(dropped).Round(time.Millisecond))
	time.Sleep(4 * time.Second)

	for _, p := range players {
		if p.run.exited() {
			t.Errorf("%s did not stay through the republish: %s", p.name, p.run.status())
		}
	}
	for _, p := range players {
		if p.stop == nil {
			p.stop = p.run.stop
		}
		p.stop()
	}
	for _, p := range players {
		p.check(t)
	}
}

// gracePlayer is one player of TestE2EGracePlayers and what it decoded.
type gracePlayer struct {
	name string
	run  *toolRun
	stop func() // run.stop unless set
	file string // what it wrote, decoded by ffprobe; "" if it decodes itself
}

// videoPTS returns the timestamps, in seconds, of the video frames the
// player decoded (ffmpeg, GStreamer) or wrote (rtmpdump, VLC: decoded by
// ffprobe).
func (p *gracePlayer) videoPTS(t *testing.T) []float64 {
	t.Helper()
	var pts []float64
	switch {
	case p.file != "":
		pr := startProbe(t, p.file, 0)
		pr.wait()
		if pr.err != nil {
			t.Errorf("%s: ffprobe of %s failed: %s\n%s", p.name, filepath.Base(p.file), pr.status(), excerpt(pr.stderr.String(), 20, nil))
			return nil
		}
		res := parseProbeLenient(t, pr)
		for _, e := range res.entries("frame", "video") {
			pts = append(pts, e.pts)
		}
	case p.name == "ffmpeg":
		pts = framecrcPTS(p.run.stdout.String())
	case p.name == "GStreamer":
		for _, m := range gstSinkBuffer.FindAllStringSubmatch(p.run.stderr.String(), -1) {
			if m[1] != "vsink" {
				continue
			}
			v, err := parseClock(m[2])
			if err != nil {
				v = -1
			}
			pts = append(pts, v)
		}
	}
	return pts
}

// check asserts the player decoded across the splice: timestamps
// increasing, one step (the stream's absence) at the splice and none
// elsewhere, and at least 2 s of video at 25 fps on both sides of it.
func (p *gracePlayer) check(t *testing.T) {
	t.Helper()
	switch p.name {
	case "ffmpeg": // -loglevel error: decoding errors at the splice show
		if e := strings.TrimSpace(p.run.stderr.String()); e != "" {
			t.Errorf("ffmpeg reported errors:\n%s", excerpt(e, 20, nil))
		}
	case "GStreamer":
		for _, l := range strings.Split(p.run.stdout.String(), "\n") {
			if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "WARNING") {
				t.Errorf("gst-launch: %s", l)
			}
		}
	}
	pts := p.videoPTS(t)
	if len(pts) < 2 {
		t.Errorf("%s: decoded %d video frames, want the two publishes\n%s", p.name, len(pts), p.run.report())
		return
	}
	splice, step := 0, 0.0
	var bad []string
	for i := 1; i < len(pts); i++ {
		d := pts[i] - pts[i-1]
		if pts[i-1] < 0 || pts[i] < 0 || d <= 0 {
			bad = append(bad, fmt.Sprintf("#%d %.3f -> #%d %.3f", i-1, pts[i-1], i, pts[i]))
		}
		if d > step {
			splice, step = i, d
		}
	}
	before, after := splice, len(pts)-splice
	t.Logf("%s: %d video frames, %d before the splice and %d after, timestamps step %.3f s there (%.3f -> %.3f)",
		p.name, len(pts), before, after, step, pts[splice-1], pts[splice])
	if len(bad) > 0 {
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("... %d more", len(bad)-10))
		}
		t.Errorf("%s: video timestamps not strictly increasing: %s", p.name, strings.Join(bad, ", "))
	}
	// The second publisher's first frame left 3 s after the last of the
	// first, plus its start-up: the player's timeline keeps that time, cut
	// to 2 s (rtmp.maxResumeGap), plus up to a frame.
	if step < 1.9 || step > 2.1 {
		t.Errorf("%s: largest timestamp step %.3f s, want the splice's 2 s: the player did not play across the republish", p.name, step)
		return
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; i != splice && d > 0.5 {
			t.Errorf("%s: hole of %.3f s at #%d (%.3f) besides the splice", p.name, d, i, pts[i-1])
		}
	}
	// Each played the first publish for 2.5 s, the second for 4 s.
	if before < 50 || after < 50 {
		t.Errorf("%s: %d frames of the first publish and %d of the second, want at least 50 (2 s) of each", p.name, before, after)
	}
}

// framecrcPTS returns the pts, in seconds, of the frames ffmpeg's
// framecrc muxer listed for stream 0 ("0, dts, pts, duration, size, crc"
// after "#tb 0: num/den").
func framecrcPTS(out string) []float64 {
	tb := 0.0
	var pts []float64
	for _, l := range strings.Split(out, "\n") {
		if m := framecrcTB.FindStringSubmatch(l); m != nil {
			num, _ := strconv.ParseFloat(m[1], 64)
			den, _ := strconv.ParseFloat(m[2], 64)
			if den > 0 {
				tb = num / den
			}
			continue
		}
		f := strings.Split(l, ",")
		if len(f) < 6 || strings.TrimSpace(f[0]) != "0" {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
		if err != nil || tb == 0 {
			pts = append(pts, -1)
			continue
		}
		pts = append(pts, float64(v)*tb)
	}
	return pts
}

var framecrcTB = regexp.MustCompile(`^#tb 0: (\d+)/(\d+)`)

// parseProbeLenient is parseProbe for files a player wrote when it was
// interrupted: a cut last packet is reported, not a failure.
func parseProbeLenient(t *testing.T, r *toolRun) *probeResult {
	t.Helper()
	if e := strings.TrimSpace(r.stderr.String()); e != "" {
		t.Logf("ffprobe of a player's file reported:\n%s", excerpt(e, 10, nil))
	}
	var res probeResult
	if err := json.Unmarshal([]byte(r.stdout.String()), &res); err != nil {
		t.Errorf("parsing ffprobe JSON: %v\n%s", err, excerpt(r.stdout.String(), 20, nil))
	}
	return &res
}

// startVLC starts cvlc; as root it runs as nobody, as VLC refuses root.
// runuser ignores SIGINT (the test's stop) and passes SIGTERM on, so
// stopping the run sends that first: VLC must not outlive the test.
func startVLC(t *testing.T, limit time.Duration, args ...string) (r *toolRun, stop func()) {
	t.Helper()
	args = append([]string{"-q", "--play-and-exit"}, args...)
	if os.Geteuid() == 0 {
		testenv.NeedTool(t, "runuser")
		r = startTool(t, limit, nil, "runuser", append([]string{"-u", "nobody", "--", "cvlc"}, args...)...)
	} else {
		r = startTool(t, limit, nil, "cvlc", args...)
	}
	stop = func() {
		if !r.exited() {
			r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(5 * time.Second):
			}
		}
		r.stop()
	}
	t.Cleanup(stop) // runs before startTool's, which would leave VLC running
	return r, stop
}

// worldWritableDir is a temporary directory any user may write, for
// players that run as another user; it is removed when the test ends.
func worldWritableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tapedeck-grace-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
