package packaging

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQemuServe runs the ARM builds as the server under qemu-user and
// passes a real stream through each: ffmpeg publishes 5 s of testsrc2 and
// a sine tone (libx264 ultrafast, AAC) in real time, ffprobe plays it and
// must decode video and audio frames, and the server stops cleanly on
// SIGTERM. armv6 runs on an emulated ARM1176 (Raspberry Pi 1 / Zero).
func TestQemuServe(t *testing.T) {
	skipShort(t)
	ffmpeg := needTool(t, "ffmpeg")
	ffprobe := needTool(t, "ffprobe")
	cases := []struct {
		name   string
		target Target
		qemu   []string
	}{
		{"linux_arm64", linuxA64, []string{"qemu-aarch64-static"}},
		{"linux_armv7", linuxARM7, []string{"qemu-arm-static"}},
		{"linux_armv6_on_arm1176", linuxARM6, []string{"qemu-arm-static", "-cpu", "arm1176"}},
	}
	var targets []Target
	for _, c := range cases {
		targets = append(targets, c.target)
	}
	bins := binaries(t, targets...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qemu := needTool(t, c.qemu[0])
			argv := append(append([]string{qemu}, c.qemu[1:]...), bins[c.target], "run", "-c", writeConfig(t, "127.0.0.1:0"))
			srv := startServer(t, argv, 30*time.Second)
			url := "rtmp://" + srv.addr + "/live/cam1"

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			pub := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
				"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
				"-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
				"-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
			pubOut := &syncBuffer{}
			pub.Stdout, pub.Stderr = pubOut, pubOut
			if err := pub.Start(); err != nil {
				t.Fatal(err)
			}
			pubDone := make(chan error, 1)
			go func() { pubDone <- pub.Wait() }()
			srv.waitLog(t, `msg="publish started"`, 20*time.Second)

			probe, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rw_timeout", "15000000",
				"-count_frames", "-read_intervals", "%+2",
				"-show_entries", "stream=codec_type,codec_name,width,height,nb_read_frames", "-of", "json", url).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("ffprobe: %v\n%s", err, ee.Stderr)
				}
				t.Fatalf("ffprobe: %v", err)
			}
			var res struct {
				Streams []struct {
					CodecType string `json:"codec_type"`
					CodecName string `json:"codec_name"`
					Width     int    `json:"width"`
					Height    int    `json:"height"`
					Frames    string `json:"nb_read_frames"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(probe, &res); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, probe)
			}
			var video, audio int
			for _, s := range res.Streams {
				n, _ := strconv.Atoi(s.Frames)
				switch s.CodecType {
				case "video":
					video = n
					if s.CodecName != "h264" {
						t.Errorf("video codec %q", s.CodecName)
					}
					if s.Width != 320 || s.Height != 240 {
						t.Errorf("video %dx%d, want 320x240", s.Width, s.Height)
					}
				case "audio":
					audio = n
					if s.CodecName != "aac" {
						t.Errorf("audio codec %q", s.CodecName)
					}
				}
			}
			// 2 s of 25 fps video and 44.1 kHz AAC (1024 samples a frame).
			if video < 25 || audio < 40 {
				t.Errorf("ffprobe decoded %d video and %d audio frames, want at least 25 and 40:\n%s", video, audio, probe)
			}
			t.Logf("played through %s: %d video, %d audio frames", c.name, video, audio)

			select {
			case err := <-pubDone:
				if err != nil {
					t.Errorf("ffmpeg publish: %v\n%s", err, pubOut.String())
				}
			case <-ctx.Done():
				t.Fatalf("ffmpeg publish did not finish:\n%s", pubOut.String())
			}
			srv.waitLog(t, `msg="publish ended"`, 10*time.Second)
			srv.stop(t, 15*time.Second)
			if strings.Contains(srv.log.String(), "level=ERROR") {
				t.Errorf("server logged errors:\n%s", srv.log.String())
			}
		})
	}
}

// TestQemuARMv6OnARM1176 shows why the armhf package carries the ARMv6
// build: Raspberry Pi OS's armhf port runs on the ARM1176 (Pi 1, Pi Zero),
// where the ARMv6 binary runs and the GOARM=7 one dies with SIGILL.
func TestQemuARMv6OnARM1176(t *testing.T) {
	skipShort(t)
	qemu := needTool(t, "qemu-arm-static")
	bins := binaries(t, linuxARM6, linuxARM7)
	if out, err := run(t, 30*time.Second, qemu, "-cpu", "arm1176", bins[linuxARM6], "version"); err != nil || !strings.Contains(out, "linux/arm") {
		t.Errorf("armv6 binary on ARM1176: %v %s", err, out)
	}
	// Logged, not asserted: whether qemu traps the ARMv7 instructions
	// depends on its version.
	// No core file from the crash (qemu-user writes it to the working directory).
	out, err := run(t, 30*time.Second, "sh", "-c", `ulimit -c 0; exec "$@"`, "sh", qemu, "-cpu", "arm1176", bins[linuxARM7], "version")
	t.Logf("armv7 binary on ARM1176: err=%v %s", err, strings.TrimSpace(out))
}
