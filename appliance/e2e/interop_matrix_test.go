//go:build linux

package e2e

// The interop matrix (issue 16, "Must show 1"): every RTMP publisher
// people hold against every player, H.264 + AAC, on one appliance. Per
// publisher the five players run at once against its stream; each cell
// asserts the frames its player decoded (or remuxed, for ffprobe to
// decode) and their timestamps, and the test logs the table.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// What every cell must get from a player that ran for about 4 s of
// media: 3 s at least, with room for start-up on a loaded 2-core machine.
const (
	matrixMinVideo = 75 // frames, 25 fps
	matrixMinAudio = 90 // AAC frames, 43 a second, less 30 % as checkMedia allows
)

// matrixPublisher publishes live/stream to srv and returns when the
// publish started and how to stop it.
type matrixPublisher struct {
	name  string
	start func(t *testing.T, srv *testServer, stream string) (since time.Time, stop func())
	// gortURL is the URL the gortmplib player plays stream by; nil: the
	// path form rtmp://host/live/stream.
	gortURL func(srv *testServer, stream string) string
	src     *srcMedia // the frames it sends, when the test knows them
}

// matrixStream is one publisher's stream as the players see it.
type matrixStream struct {
	url     string    // rtmp://host/live/stream
	gortURL string    // the URL the gortmplib player takes
	src     *srcMedia // the frames published, or nil
}

// matrixPlayer starts playing s (the publisher is up) and returns finish,
// run in the cell's subtest: it waits for the player, asserts what it
// received and returns the frame counts. Every player stops after about
// 4 s of media, not of time: on a loaded machine gst-launch takes seconds
// to start and a publisher may fall behind real time.
type matrixPlayer struct {
	name  string
	tool  string // the program it runs, if any: without it the cell is skipped (failed under CI)
	start func(t *testing.T, s matrixStream) (finish func(t *testing.T) (video, audio int))
}

// TestE2EInteropMatrix: publishers {ffmpeg, GStreamer, nginx-rtmp push,
// gortmplib with the stream name in the path, gortmplib with it in the
// fragment} × players {ffmpeg (ffprobe), rtmpdump, GStreamer, VLC,
// gortmplib}. Every cell must decode at least matrixMinVideo video and
// matrixMinAudio audio frames, start at a keyframe and have increasing
// timestamps without holes; the matrix is logged as a table.
func TestE2EInteropMatrix(t *testing.T) {
	began := time.Now()
	srv := sharedServer(t)
	srv.watch(t)
	gortSrc := matrixGortMedia(t)
	t.Logf("appliance up and gortmplib's media encoded in %v", time.Since(began).Round(100*time.Millisecond))

	publishers := []matrixPublisher{
		{name: "ffmpeg", start: func(t *testing.T, srv *testServer, stream string) (time.Time, func()) {
			pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(srv.url("live", stream), 30)...)
			return srv.waitPublishing(t, "live", stream, pub, 15*time.Second).Since, pub.stop
		}},
		{name: "GStreamer", start: func(t *testing.T, srv *testServer, stream string) (time.Time, func()) {
			testenv.NeedTool(t, "gst-launch-1.0")
			pub := startTool(t, 40*time.Second, nil, "gst-launch-1.0", testenv.GstPublishArgs(srv.url("live", stream))...)
			return srv.waitPublishing(t, "live", stream, pub, 15*time.Second).Since, pub.stop
		}},
		{name: "nginx-rtmp push", start: func(t *testing.T, srv *testServer, stream string) (time.Time, func()) {
			n := testenv.StartNginxPush(t, "rtmp://"+srv.addr+"/live")
			pub := startTool(t, 40*time.Second, nil, "ffmpeg", publisherArgs(n.URL(stream), 30)...)
			since := srv.waitPublishing(t, "live", stream, pub, 15*time.Second).Since
			return since, func() { pub.stop(); n.Kill() }
		}},
		{name: "gortmplib path", start: func(t *testing.T, srv *testServer, stream string) (time.Time, func()) {
			// app "live/<stream>", empty publish name
			return matrixGortPublish(t, srv, "rtmp://"+srv.addr+"/live/"+stream, stream, gortSrc)
		}, src: gortSrc},
		{name: "gortmplib fragment", start: func(t *testing.T, srv *testServer, stream string) (time.Time, func()) {
			// app "live", publish name <stream>
			return matrixGortPublish(t, srv, "rtmp://"+srv.addr+"/live#"+stream, stream, gortSrc)
		}, gortURL: func(srv *testServer, stream string) string { return "rtmp://" + srv.addr + "/live#" + stream }, src: gortSrc},
	}
	players := []matrixPlayer{
		{"ffmpeg", "ffprobe", matrixFfprobe},
		{"rtmpdump", "rtmpdump", matrixRtmpdump},
		{"GStreamer", "gst-launch-1.0", matrixGStreamer},
		{"VLC", "cvlc", matrixVLC},
		{"gortmplib", "", matrixGortmplib},
	}

	cells := make([][]string, len(publishers))
	for i, pub := range publishers {
		cells[i] = make([]string, len(players))
		for j := range cells[i] {
			cells[i][j] = "not run"
		}
		rowBegan := time.Now()
		var joined, played time.Duration
		rowOK := t.Run(strings.ReplaceAll(pub.name, " ", "_"), func(t *testing.T) {
			stream := "matrix-" + strings.ReplaceAll(pub.name, " ", "-")
			since, stop := pub.start(t, srv, stream)
			s := matrixStream{url: srv.url("live", stream), src: pub.src}
			s.gortURL = s.url
			if pub.gortURL != nil {
				s.gortURL = pub.gortURL(srv, stream)
			}
			// Every player starts at once, mid-GOP: served from the GOP
			// cache, each gets a second of media at once, which absorbs
			// its start-up on a loaded machine. They run concurrently;
			// the cells then wait for theirs one by one.
			sleepUntilMidGOP(since, time.Second)
			joined = time.Since(rowBegan)
			finish := make([]func(*testing.T) (int, int), len(players))
			for j, pl := range players {
				if _, err := exec.LookPath(pl.tool); pl.tool != "" && err != nil {
					tool := pl.tool
					finish[j] = func(t *testing.T) (int, int) { testenv.NeedTool(t, tool); return 0, 0 }
					continue
				}
				finish[j] = pl.start(t, s)
			}
			for j, pl := range players {
				var v, a int
				skipped := false
				ok := t.Run(pl.name, func(t *testing.T) {
					defer func() { skipped = t.Skipped() }()
					v, a = finish[j](t)
				})
				switch {
				case skipped:
					cells[i][j] = "skipped"
				case ok:
					cells[i][j] = fmt.Sprintf("ok %d/%d", v, a)
				default:
					cells[i][j] = fmt.Sprintf("FAIL %d/%d", v, a)
				}
			}
			played = time.Since(rowBegan)
			stop()
		})
		if !rowOK && joined == 0 {
			for j := range cells[i] {
				cells[i][j] = "FAIL: no publish"
			}
		}
		round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
		t.Logf("row %s: players joined at %v, all checked at %v, publisher stopped at %v",
			pub.name, round(joined), round(played), round(time.Since(rowBegan)))
	}
	t.Logf("interop matrix, decoded video/audio frames per player (H.264 + AAC), in %v:\n%s",
		time.Since(began).Round(100*time.Millisecond), matrixTable(publishers, players, cells))
}

// matrixTable lays the cells out as a table, publishers down, players across.
func matrixTable(pubs []matrixPublisher, players []matrixPlayer, cells [][]string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "publisher \\ player")
	for _, p := range players {
		fmt.Fprintf(w, "\t%s", p.name)
	}
	fmt.Fprintln(w)
	for i, p := range pubs {
		fmt.Fprint(w, p.name)
		for _, c := range cells[i] {
			fmt.Fprintf(w, "\t%s", c)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

// matrixGortMedia is what the gortmplib publishers send: ffmpeg's 4 s of
// the test publisher's picture and sound (640x360 H.264 at 25 fps, a
// keyframe every 2 s, no B-frames, and AAC), so that every row meets the
// same checks.
func matrixGortMedia(t *testing.T) *srcMedia {
	return encodeMedia(t, "matrix.flv",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-bf", "0",
		"-c:a", "aac", "-b:a", "96k")
}

// matrixGortPublish publishes src in a loop with gortmplib to pubURL,
// waits until live/stream is up and returns when it started and how to
// stop it.
func matrixGortPublish(t *testing.T, srv *testServer, pubURL, stream string, src *srcMedia) (time.Time, func()) {
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- gortPublishUntil(t, pubURL, src, 8, quit) }()
	testenv.Eventually(t, 15*time.Second, "gortmplib publishing live/"+stream, func() bool {
		select {
		case err := <-done:
			done <- err
			return true // reported below
		default:
		}
		st, ok := srv.stats("live", stream)
		return ok && st.Publishing && st.MessagesIn >= 10
	})
	select {
	case err := <-done:
		t.Fatalf("gortmplib publisher ended before its stream was up: %v", err)
	default:
	}
	st, _ := srv.stats("live", stream)
	return st.Since, func() {
		close(quit)
		if err := <-done; err != nil {
			t.Errorf("gortmplib publisher: %v", err)
		}
	}
}

// The ffprobe-read cells: ffprobe decodes what its player got (itself,
// rtmpdump's FLV, VLC's MP4) and checkMedia asserts it.
var matrixExpect = mediaExpect{minVideoFrames: matrixMinVideo, minSpan: 3}

func matrixProbeCell(t *testing.T, label string, p *probeResult) (int, int) {
	checkMedia(t, label, p, matrixExpect)
	return len(p.entries("frame", "video")), len(p.entries("frame", "audio"))
}

func matrixFfprobe(t *testing.T, s matrixStream) func(*testing.T) (int, int) {
	r := startProbe(t, s.url, 4)
	return func(t *testing.T) (int, int) {
		p := parseProbe(t, r)
		t.Logf("ffprobe ran %v", r.elapsed.Round(10*time.Millisecond))
		return matrixProbeCell(t, "ffprobe", p)
	}
}

func matrixRtmpdump(t *testing.T, s matrixStream) func(*testing.T) (int, int) {
	testenv.NeedTool(t, "rtmpdump")
	out := filepath.Join(t.TempDir(), "rtmpdump.flv")
	// --stop 4: the server ends the play after 4 s of media.
	r := startTool(t, 20*time.Second, nil, "rtmpdump", "--live", "-r", s.url, "-o", out, "--stop", "4")
	return func(t *testing.T) (int, int) {
		r.wait()
		if r.interrupted {
			t.Errorf("rtmpdump --stop 4 did not end by itself: %s\n%s", r.status(), excerpt(r.stderr.String(), 30, nil))
		}
		t.Logf("rtmpdump ran %v", r.elapsed.Round(10*time.Millisecond))
		return matrixProbeCell(t, "rtmpdump FLV", parseProbe(t, startProbe(t, out, 0)))
	}
}

func matrixVLC(t *testing.T, s matrixStream) func(*testing.T) (int, int) {
	name, args, out := testenv.VLCRecord(t, s.url, 4)
	r := startTool(t, 20*time.Second, nil, name, args...)
	return func(t *testing.T) (int, int) {
		r.wait()
		if r.interrupted || r.exitCode != 0 {
			t.Errorf("VLC did not end by itself after its run time: %s\n%s", r.status(), excerpt(r.stderr.String(), 30, nil))
		}
		t.Logf("VLC ran %v", r.elapsed.Round(10*time.Millisecond))
		return matrixProbeCell(t, "VLC MP4", parseProbe(t, startProbe(t, out, 0)))
	}
}

func matrixGStreamer(t *testing.T, s matrixStream) func(*testing.T) (int, int) {
	r := startGstPlay(t, s.url, 20*time.Second, 100, 172)
	return func(t *testing.T) (int, int) {
		g := parseGstPlay(r)
		if g.run.interrupted || g.run.exitCode != 0 {
			t.Errorf("gst-launch did not end by itself after 100 video frames and 172 audio buffers: %s", g.run.status())
		}
		t.Logf("gst-launch ran %v", g.run.elapsed.Round(10*time.Millisecond))
		for _, l := range g.problems {
			t.Errorf("gst-launch: %s", l)
		}
		if len(g.demuxed) == 0 || !g.demuxed[0].key {
			t.Errorf("first video buffer out of flvdemux is missing or not a keyframe (%d buffers)", len(g.demuxed))
		}
		checkIncreasing(t, "gst demuxed video dts", g.demuxed, true, 0.5)
		matrixCounts(t, "gst", g.decoded, g.audio)
		return len(g.decoded), len(g.audio)
	}
}

func matrixGortmplib(t *testing.T, s matrixStream) func(*testing.T) (int, int) {
	got := make(chan *gortReceived, 1)
	go func() { got <- gortReadUntil(s.gortURL, 20*time.Second, 100, 172) }()
	return func(t *testing.T) (int, int) {
		g := <-got
		if g.err != nil {
			t.Errorf("%v", g.err)
		}
		if len(g.video) > 0 && !g.firstVideoKey {
			t.Errorf("gortmplib's first access unit is not random access")
		}
		seconds := func(ts []time.Duration) []mediaEntry {
			es := make([]mediaEntry, len(ts))
			for i, d := range ts {
				es[i].pts = d.Seconds()
			}
			return es
		}
		matrixCounts(t, "gortmplib", seconds(g.videoTS), seconds(g.audioTS))
		if s.src != nil { // the bytes too, when the test published them
			checkSameFrames(t, "gortmplib video", s.src.video, g.video, matrixMinVideo)
			checkSameFrames(t, "gortmplib audio", s.src.audio, g.audio, matrixMinAudio)
		}
		return len(g.video), len(g.audio)
	}
}

// matrixCounts asserts a player that is not read back with ffprobe
// decoded enough frames with increasing timestamps (video strictly).
func matrixCounts(t *testing.T, label string, video, audio []mediaEntry) {
	t.Helper()
	t.Logf("%s: %d video frames, %d audio frames", label, len(video), len(audio))
	if len(video) < matrixMinVideo || len(audio) < matrixMinAudio {
		t.Errorf("%s: %d video and %d audio frames, want at least %d and %d", label, len(video), len(audio), matrixMinVideo, matrixMinAudio)
	}
	checkIncreasing(t, label+" video timestamps", video, true, 0.5)
	checkIncreasing(t, label+" audio timestamps", audio, false, 0.5)
}
