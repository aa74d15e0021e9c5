//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// A pulled RTSP camera's recording stays one timeline through CPU
// starvation (issue 15: in the soak, a starved machine made the H.265
// camera's audio step back 1–2.6 s fifty times, each step cut a segment,
// and the segments overlapped: 2h23m of media in 2 h). Here the GStreamer
// camera's video encoder is starved throughout (its video falls seconds
// behind its audio), the camera is frozen (SIGSTOP) for 2 s, then the
// built binary pulling it is. The segments must not overlap, each freeze
// may cut at most one segment and the starved encoder none, and a live
// player sees timestamps that only grow, per track.
//
// What it found (docs/pull-timing.md): the camera's timestamps were true;
// once the audio led the video by the hub's 5 s lag bound, every
// subscriber reading at the video looked lagging and was jumped back to
// the newest keyframe it had already read, and was handed that GOP and
// its audio again.
func TestE2EPullStarvation(t *testing.T) {
	bin := tapedeckBinary(t)
	// The soak's H.265 camera, its video starved of CPU: 70 ms of work per
	// frame of 40 ms, so its video falls behind by 0.75 s a second while
	// its audio keeps time, as x265 did on the soak's overloaded machine.
	// The RTP timestamps stay true (capture time): the video arrives late.
	video, codec := soakCamera(t, "h265", 800)
	cam := testenv.StartCamera(t, testenv.FreePort(t), "identity sleep-time=70000 ! "+video)

	// 3 s segments: the video's lead over the audio (seconds) lasts over
	// every cut, which must still leave segments that do not overlap.
	rtmpAddr, httpAddr, cfgPath := pullCameraConfig(t, cam.URL, "3s")
	procStart := time.Now()
	proc := startSoakProc(t, bin, cfgPath, "http://"+httpAddr)
	testenv.Eventually(t, 30*time.Second, "the camera's first segment", func() bool {
		opened, _, _ := proc.log.segments()
		if len(opened) > 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})

	// The live player: every message's kind and timestamp, as it comes.
	// It is our RTMP client announcing hvc1 (the ffmpeg 5 of Debian 12
	// cannot play H.265 over RTMP); it checks what any player is handed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type pkt struct {
		kind string
		dts  float64
	}
	pkts := make(chan pkt, 4096)
	c, name, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/cam", rtmp.ClientConfig{Timeout: 10 * time.Second,
		ConnectProps: amf.Object{{Key: "fourCcList", Value: gortmplibFourCcList}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Play(ctx, name); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(pkts)
		for ctx.Err() == nil {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			m, err := c.ReadMedia()
			if err != nil {
				return
			}
			if m.Kind.IsMedia() && !m.Frame.SequenceHeader {
				kind := "video"
				if m.Kind == remux.KindAudio {
					kind = "audio"
				}
				pkts <- pkt{kind, float64(m.Timestamp) / 1000}
			}
			m.Release()
		}
	}()
	var got []pkt
	collect := func(d time.Duration) {
		end := time.After(d)
		for {
			select {
			case p, ok := <-pkts:
				if !ok {
					return
				}
				got = append(got, p)
			case <-end:
				return
			}
		}
	}
	freeze := func(pid int, what string, d time.Duration) {
		t.Logf("freezing %s (pid %d) for %v", what, pid, d)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		collect(d)
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}

	collect(3 * time.Second)
	freeze(cam.Pid(), "the camera", 2*time.Second)
	collect(4 * time.Second)
	freeze(proc.cmd.Process.Pid, "tapedeck", 2*time.Second)
	collect(4 * time.Second)
	cancel()
	c.Close()
	proc.stop(t)
	up := time.Since(procStart)

	_, closed, _ := proc.log.segments()
	var segs []soakSegment
	var recorded time.Duration
	for _, s := range closed {
		if s.stream == "cam" {
			segs = append(segs, s)
			recorded += s.duration
			t.Logf("segment %s: opened %s, %v", filepath.Base(s.path), s.start.Format("15:04:05.000"), s.duration)
		}
	}
	cuts := proc.log.discontinuities()["cam"]
	t.Logf("camera %s: %d segments, %v of media in %v; %d cut by a timestamp discontinuity; player read %d packets",
		codec, len(segs), recorded.Round(time.Millisecond), up.Round(time.Millisecond), cuts, len(got))
	if warns, n := proc.log.warnings(); n > 0 {
		t.Logf("%d warnings:\n%s", n, strings.Join(warns, "\n"))
	}
	if len(segs) == 0 {
		t.Fatal("no segment of the camera closed")
	}
	checkNoOverlap(t, "cam", segs, up, 100*time.Millisecond)
	if cuts > 2 {
		t.Errorf("%d segments cut by timestamp discontinuities for 2 freezes and a starved encoder: want at most 1 a freeze", cuts)
	}

	// The audio's lead over the video (the newest of each), every second
	// of the run: what the two tracks' timelines did through the freezes.
	var lead []string
	var la, lv float64
	for i, p := range got {
		if p.kind == "audio" {
			la = p.dts
		} else {
			lv = p.dts
		}
		if i%50 == 0 && la > 0 && lv > 0 {
			lead = append(lead, fmt.Sprintf("%.1f:%+.0fms", lv, (la-lv)*1000))
		}
	}
	t.Logf("audio lead over video, at video time: %s", strings.Join(lead, " "))

	// The player's decode times only grow, per track.
	last := map[string]float64{}
	var back []string
	for _, p := range got {
		if l, ok := last[p.kind]; ok && p.dts < l {
			back = append(back, fmt.Sprintf("%s %.3f after %.3f", p.kind, p.dts, l))
		}
		last[p.kind] = max(last[p.kind], p.dts)
	}
	if len(got) < 100 || last["audio"] == 0 || last["video"] == 0 {
		t.Errorf("the live player read %d packets (audio to %.3f s, video to %.3f s): want both tracks", len(got), last["audio"], last["video"])
	}
	if len(back) > 0 {
		if len(back) > 10 {
			back = append(back[:10], fmt.Sprintf("... %d more", len(back)-10))
		}
		t.Errorf("the live player's decode times went back:\n%s", strings.Join(back, "\n"))
	}
}

// A camera silent for longer than gortsplib's 5 s receiver-report period
// does not take the appliance down, and neither does the appliance itself
// stopped that long (a Pi swapping, a SIGSTOP): gortsplib v5.3.0 divided
// by the packets of the period and panicked the whole process (fixed in
// v5.3.1). Frozen 11 s, the camera's session is closed (the TCP read
// timeout, or the pull's 10 s video-silence watch) and dialled again, and
// the recording goes on after. Then tapedeck is frozen 7 s: when it wakes,
// its session's packets are late, not missing, so it goes on without a
// reconnect.
func TestE2EPullCameraSilent(t *testing.T) {
	bin := tapedeckBinary(t)
	video, _ := soakCamera(t, "h264", 400)
	cam := testenv.StartCamera(t, testenv.FreePort(t), video)
	_, httpAddr, cfgPath := pullCameraConfig(t, cam.URL, "5m")
	proc := startSoakProc(t, bin, cfgPath, "http://"+httpAddr)
	opened := func() int { o, _, _ := proc.log.segments(); return len(o) }
	testenv.Eventually(t, 30*time.Second, "the camera's first segment", func() bool {
		time.Sleep(50 * time.Millisecond)
		return opened() > 0
	})
	time.Sleep(time.Second)
	if err := syscall.Kill(cam.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(11 * time.Second)
	if err := syscall.Kill(cam.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if proc.exited() {
		t.Fatalf("tapedeck exited while the camera was silent: %v\n%s", proc.cmd.ProcessState, proc.log.lastLines())
	}
	before := opened()
	testenv.Eventually(t, 20*time.Second, "a new segment after the camera came back", func() bool {
		time.Sleep(50 * time.Millisecond)
		return opened() > before || proc.exited()
	})
	if proc.exited() {
		t.Fatalf("tapedeck exited after the camera came back: %v\n%s", proc.cmd.ProcessState, proc.log.lastLines())
	}

	time.Sleep(2 * time.Second) // the new session's first receiver report is due
	_, warned := proc.log.warnings()
	pid := proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // past the next report
	if proc.exited() {
		t.Fatalf("tapedeck exited after being stopped 7 s: %v\n%s", proc.cmd.ProcessState, proc.log.lastLines())
	}
	if _, n := proc.log.warnings(); n != warned {
		t.Errorf("%d warnings while tapedeck was stopped 7 s, want none (no reconnect):\n%s", n-warned, proc.log.lastLines())
	}
	proc.stop(t)
}

// pullCameraConfig writes a config that pulls camURL into app live with
// segments of segment, debug logs and fresh addresses and storage.
func pullCameraConfig(t *testing.T, camURL, segment string) (rtmpAddr, httpAddr, cfgPath string) {
	t.Helper()
	rtmpAddr, httpAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	storage := t.TempDir()
	cfgPath = filepath.Join(t.TempDir(), "tapedeck.yaml")
	cfg := fmt.Sprintf(`rtmp:
  listen: %q
http:
  listen: %q
log:
  level: debug
storage:
  dir: %q
apps:
  live:
    record:
      segment:
        duration: %s
    pull:
      cam:
        url: %s
`, rtmpAddr, httpAddr, storage, segment, camURL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return rtmpAddr, httpAddr, cfgPath
}
