//go:build linux

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/rtmp"
)

// vodFixture is one appliance whose storage holds ffmpeg-made MP4 and FLV
// files (8 s, 25 fps, GOP 25) under live/cam1, and two consecutive fMP4
// segments recorded by the appliance itself under live/rec.
type vodFixture struct {
	srv      *testServer
	segs     []string // live/rec segments, in order
	fileVid  map[string]int
	setupErr string
}

var (
	vodOnce   sync.Once
	vodShared vodFixture
)

// vodSourceArgs: 8 s of testsrc2 + sine, H.264 (GOP 25) and AAC.
func vodSourceArgs(seconds string) []string {
	return []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k"}
}

func setupVOD(t *testing.T) *vodFixture {
	t.Helper()
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	vodOnce.Do(func() {
		f := &vodShared
		srv, err := newTestServer()
		if err != nil {
			f.setupErr = err.Error()
			return
		}
		f.srv = srv
		dir := filepath.Join(srv.storage, "live", "cam1")
		os.MkdirAll(dir, 0o755)
		var wg sync.WaitGroup
		var mu sync.Mutex
		fail := func(s string) { mu.Lock(); f.setupErr += s + "\n"; mu.Unlock() }
		for _, name := range []string{"clip.mp4", "clip.flv"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := launchTool(30*time.Second, nil, "ffmpeg", append(vodSourceArgs("8"), filepath.Join(dir, name))...)
				if err != nil {
					fail(err.Error())
					return
				}
				if r.wait(); r.err != nil {
					fail(r.report())
				}
			}()
		}
		// Two consecutive recordings of live/rec (fMP4), published faster
		// than real time, more than a second apart (distinct names).
		for i := 0; i < 2; i++ {
			args := append([]string{"-readrate", "4"}, vodSourceArgs("4")...)
			args = append(args, "-f", "flv", srv.url("live", "rec"))
			r, err := launchTool(30*time.Second, nil, "ffmpeg", args...)
			if err != nil {
				fail(err.Error())
				break
			}
			if r.wait(); r.err != nil {
				fail(r.report())
			}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && strings.Count(srv.log.String(), "segment closed") < i+1 {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(1100 * time.Millisecond)
		}
		wg.Wait()
		f.segs = findSegments(t, filepath.Join(srv.storage, "live", "rec"))
		sort.Strings(f.segs)
	})
	f := &vodShared
	if f.setupErr != "" {
		t.Fatalf("vod fixture: %s", f.setupErr)
	}
	return f
}

// videoFrames decodes input with ffprobe and returns its video frame pts.
func videoFrames(t *testing.T, input string) []mediaEntry {
	t.Helper()
	p := parseProbe(t, startProbe(t, input, 0))
	return p.entries("frame", "video")
}

func checkWithin(t *testing.T, label string, got, want int) {
	t.Helper()
	if d := float64(got-want) / float64(want); d < -0.02 || d > 0.02 {
		t.Errorf("%s: %d video frames decoded, the file has %d (more than 2%% apart)", label, got, want)
	} else {
		t.Logf("%s: %d video frames, file %d", label, got, want)
	}
}

// ffprobe and rtmpdump play whole files: ffmpeg-made MP4 and FLV, and an
// fMP4 segment of our recorder.
func TestE2EVODPlayFiles(t *testing.T) {
	f := setupVOD(t)
	testenv.NeedTool(t, "rtmpdump")
	if len(f.segs) < 1 {
		t.Fatalf("no recorded segments")
	}
	seg := f.segs[0]
	segRel, _ := filepath.Rel(f.srv.storage, seg)
	files := []struct{ label, path, url string }{
		{"mp4", filepath.Join(f.srv.storage, "live/cam1/clip.mp4"), "vod/live/cam1/clip.mp4"},
		{"flv", filepath.Join(f.srv.storage, "live/cam1/clip.flv"), "vod/live/cam1/clip.flv"},
		{"fmp4", seg, "vod/" + filepath.ToSlash(segRel)},
	}
	for _, fl := range files {
		want := len(videoFrames(t, fl.path))
		u := "rtmp://" + f.srv.addr + "/" + fl.url
		t.Run(fl.label+"/ffprobe", func(t *testing.T) {
			t.Parallel()
			p := parseProbe(t, startProbe(t, u, 0))
			v := p.entries("frame", "video")
			checkWithin(t, "ffprobe "+u, len(v), want)
			checkIncreasing(t, "ffprobe video pts", v, true, 0.5)
		})
		t.Run(fl.label+"/rtmpdump", func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.flv")
			r := runTool(t, 40*time.Second, nil, "rtmpdump", "-q", "-r", u, "-o", out)
			if r.exitCode != 0 {
				t.Errorf("rtmpdump: %s\n%s", r.status(), excerpt(r.stderr.String(), 20, nil))
			}
			v := videoFrames(t, out)
			checkWithin(t, "rtmpdump "+u, len(v), want)
			checkIncreasing(t, "rtmpdump video pts", v, true, 0.5)
		})
	}
	t.Run("rtmpdump-start-5", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "out.flv")
		u := "rtmp://" + f.srv.addr + "/vod/live/cam1/clip.mp4"
		runTool(t, 40*time.Second, nil, "rtmpdump", "-q", "--start", "5", "-r", u, "-o", out)
		p := parseProbe(t, startProbe(t, out, 0))
		v := p.entries("frame", "video")
		if len(v) == 0 {
			t.Fatal("no video")
		}
		// Video and audio, and no data track made of an onMetaData sent
		// at the start time.
		if len(p.Streams) != 2 {
			t.Errorf("--start 5: %d streams %+v, want video and audio", len(p.Streams), p.Streams)
		}
		// From the keyframe at or before 5 s (GOP 1 s): 3 to 4 s of the 8.
		if v[0].pts < 4.5 || v[0].pts > 5.5 || len(v) < 70 || len(v) > 105 {
			t.Errorf("--start 5: first video frame at %.3f s, %d frames; want it near 5 s and 3-4 s of video", v[0].pts, len(v))
		}
	})
}

// The timeline of a stream directory plays its segments back to back.
func TestE2EVODTimeline(t *testing.T) {
	f := setupVOD(t)
	if len(f.segs) < 2 {
		t.Fatalf("want two recorded segments, have %v", f.segs)
	}
	want := 0
	for _, s := range f.segs {
		want += len(videoFrames(t, s))
	}
	u := "rtmp://" + f.srv.addr + "/vod/live/rec"
	p := parseProbe(t, startProbe(t, u, 0))
	v := p.entries("frame", "video")
	checkWithin(t, "timeline "+u, len(v), want)
	checkIncreasing(t, "timeline video pts", v, true, 0.5)
}

// Names that would leave storage.dir are refused; a live play still works.
func TestE2EVODEscapes(t *testing.T) {
	f := setupVOD(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.flv"), []byte("FLV"), 0o644)
	if err := os.Symlink(outside, filepath.Join(f.srv.storage, "live", "out")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(f.srv.storage, outside)
	r := filepath.ToSlash(rel)
	cases := []struct{ label, app, name string }{
		{"dotdot", "vod/live/cam1", "../../" + r + "/secret.flv"},
		{"dotdot-in-app", "vod/live/../../" + r, "secret"},
		{"percent", "vod/live/cam1", "%2e%2e/%2e%2e/" + r + "/secret.flv"},
		{"percent-slash", "vod", "live%2fcam1%2f..%2f..%2f" + strings.ReplaceAll(r, "/", "%2f") + "%2fsecret.flv"},
		{"absolute", "vod", filepath.ToSlash(outside) + "/secret.flv"},
		{"absolute-mp4", "vod", "mp4:" + filepath.ToSlash(outside) + "/secret.flv"},
		{"symlink", "vod/live/out", "secret.flv"},
		{"missing", "vod/live/cam1", "nothing.mp4"},
	}
	logs := f.srv.watch(t)
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cl, _, err := rtmp.Dial(ctx, "rtmp://"+f.srv.addr+"/"+c.app+"/x", rtmp.ClientConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			err = cl.Play(ctx, c.name)
			if err == nil || !strings.Contains(err.Error(), "NetStream.Play.StreamNotFound") {
				t.Errorf("play %q (app %q): %v, want NetStream.Play.StreamNotFound", c.name, c.app, err)
			}
		})
	}
	if !strings.Contains(logs(), "vod: play refused") {
		t.Errorf("refusals not logged")
	}
	// Live still plays.
	srv, name, _ := sharedStream(t)
	p := parseProbe(t, startProbe(t, srv.url("live", name), 3))
	if len(p.entries("frame", "video")) < 25 {
		t.Errorf("live play after the escape attempts: too little video")
	}
}
