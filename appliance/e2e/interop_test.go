//go:build linux

package e2e

// Interoperability tests: an in-process appliance on 127.0.0.1
// with real RTMP clients (ffmpeg/ffprobe, rtmpdump, GStreamer) publishing
// and playing. The clients are required under CI (CI=true) and skipped
// elsewhere when missing. The tests that only watch a stream share one
// appliance and one publisher (see sharedStream) to keep the run short.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// TestE2EFfmpegPlay: a late-joining ffprobe player, started mid-GOP about
// 3 s after the publisher, must start at a keyframe served from the GOP
// cache and decode 4 s of h264 640x360 + AAC with monotonic timestamps.
func TestE2EFfmpegPlay(t *testing.T) {
	testenv.NeedTool(t, "ffprobe")
	srv, name, since := sharedStream(t)
	logs := srv.watch(t)

	joined := sleepUntilMidGOP(since, 3*time.Second)
	t.Logf("joining %.1f s after the publish started", joined.Sub(since).Seconds())
	r := startProbe(t, srv.url("live", name), 4)
	res := parseProbe(t, r)
	checkMedia(t, "ffprobe", res, mediaExpect{minVideoFrames: 70, minSpan: 3.5})

	// checkMedia saw video start with audio. Joining ~1 s into a 2 s GOP,
	// the GOP cache also hands over that second at once, so the player has
	// its 4 s of media ~3 s after play started; a server that held the
	// joiner back until the next keyframe would need ~1 s + 4 s. Measured
	// on the server (play start to disconnect), which process start-up
	// under load does not skew.
	// The server logs the disconnect asynchronously: give it a moment.
	played, err := playDuration(logs(), name)
	for deadline := time.Now().Add(3 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		played, err = playDuration(logs(), name)
	}
	if err != nil {
		t.Fatalf("timing the play from the server log: %v", err)
	}
	t.Logf("ffprobe ran %v; the server streamed for %v to deliver 4 s of media", r.elapsed.Round(time.Millisecond), played.Round(time.Millisecond))
	if played > 4600*time.Millisecond {
		t.Errorf("delivering 4 s of media to the late joiner took %v (want ~3 s, <= 4.6 s): it was not served from the GOP cache", played.Round(time.Millisecond))
	}
}

// TestE2ERtmpdumpPlay: rtmpdump (librtmp, simple handshake) dumps the live
// stream for ~4.5 s to an FLV file that ffprobe must find complete and
// decodable: h264 + AAC, first video frame a keyframe, monotonic video.
func TestE2ERtmpdumpPlay(t *testing.T) {
	testenv.NeedTool(t, "rtmpdump")
	testenv.NeedTool(t, "ffprobe")
	srv, name, _ := sharedStream(t)
	logs := srv.watch(t)

	out := filepath.Join(t.TempDir(), "out.flv")
	r := runTool(t, 4500*time.Millisecond, nil, "rtmpdump", "--live", "-r", srv.url("live", name), "-o", out)
	if !r.interrupted {
		t.Errorf("rtmpdump ended by itself while the stream is live: %s\n%s", r.status(), excerpt(r.stderr.String(), 30, nil))
	}
	if s := r.stderr.String(); !strings.Contains(s, "Starting Live Stream") {
		t.Errorf("rtmpdump did not start the live stream:\n%s", excerpt(s, 30, nil))
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("rtmpdump wrote no FLV (stat: %v)", err)
	}
	res := parseProbe(t, startProbe(t, out, 0))
	checkMedia(t, "rtmpdump FLV", res, mediaExpect{minVideoFrames: 70, minSpan: 3})

	// rtmpdump without SWF verification sends a version-0 C1; the server
	// must have answered with the simple handshake.
	if l := logs(); !strings.Contains(l, "kind=simple") || strings.Contains(l, "kind=digest") {
		t.Errorf("server did not log exactly a simple handshake for rtmpdump; handshake lines:\n%s", grepLines(l, "handshake"))
	}
}

// TestE2ERtmpdumpStopOffset: rtmpdump --stop (-B) is implemented by the
// server: librtmp sends it as the play command's duration argument, and
// the RTMP specification says a positive duration plays a live stream for
// that long. rtmpdump must therefore end on its own with about 3 s of media.
func TestE2ERtmpdumpStopOffset(t *testing.T) {
	testenv.NeedTool(t, "rtmpdump")
	testenv.NeedTool(t, "ffprobe")
	srv, name, _ := sharedStream(t)
	srv.watch(t)

	out := filepath.Join(t.TempDir(), "out.flv")
	r := runTool(t, 8*time.Second, nil, "rtmpdump", "--live", "-r", srv.url("live", name), "-o", out, "-B", "3")
	if r.interrupted {
		t.Errorf("rtmpdump -B 3 was still running after 8 s (progress %s): the server ignored the play command's "+
			"duration argument (3000 ms), which for a live stream means \"play for this long\" (RTMP 1.0 §7.2.2.1)",
			lastProgress(r.stderr.String()))
	}
	if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
		res := parseProbe(t, startProbe(t, out, 0))
		if v := res.entries("frame", "video"); len(v) > 0 {
			if last := v[len(v)-1].pts; last > 4.5 {
				t.Errorf("rtmpdump -B 3 dumped %.2f s of video, want about 3 s", last)
			}
		}
	}
}

// TestE2ERtmpdumpFP9Handshake: rtmpdump switches to the Flash Player 9
// digest handshake when asked for SWF verification (-W). It must fetch the
// SWF from our HTTP server, validate the server's S1 digest and S2
// signature ("Genuine Adobe Flash Media Server") and then receive media.
func TestE2ERtmpdumpFP9Handshake(t *testing.T) {
	testenv.NeedTool(t, "rtmpdump")
	testenv.NeedTool(t, "ffprobe")
	srv, name, _ := sharedStream(t)
	logs := srv.watch(t)

	swf := minimalSWF()
	var fetches atomic.Int32
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/player.swf" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/x-shockwave-flash")
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(swf)))
		w.Write(swf)
	}))
	defer web.Close()

	out := filepath.Join(t.TempDir(), "out.flv")
	home := t.TempDir() // rtmpdump caches SWF hashes in $HOME/.swfinfo
	r := runTool(t, 4500*time.Millisecond, []string{"HOME=" + home}, "rtmpdump", "-z", "--live",
		"-r", srv.url("live", name), "-W", web.URL+"/player.swf", "-o", out)
	log := r.stderr.String()

	if n := fetches.Load(); n < 1 {
		t.Errorf("rtmpdump never fetched the SWF from %s", web.URL)
	}
	// The SWF verification hash rtmpdump computed proves it used our file.
	mac := hmac.New(sha256.New, []byte("Genuine Adobe Flash Player 001"))
	mac.Write(swf)
	if got, want := swfHashFromLog(log), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("rtmpdump SWFSHA256 = %q, want %q (HMAC of the served SWF)", got, want)
	}
	if !strings.Contains(log, "SWFSize  : "+strconv.Itoa(len(swf))) {
		t.Errorf("rtmpdump did not report SWFSize %d", len(swf))
	}
	// FP9 handshake, validated both ways by the client.
	for _, want := range []string{
		"HandShake: Client digest offset",
		"HandShake: Genuine Adobe Flash Media Server",
		"HandShake: Handshaking finished",
		"Starting Live Stream",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("rtmpdump output lacks %q", want)
		}
	}
	for _, bad := range []string{"Server not genuine Adobe", "Couldn't verify the server digest", "Trying different position for server digest"} {
		if strings.Contains(log, bad) {
			t.Errorf("rtmpdump output contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`FMS Version\s*:\s*(\S+)`).FindStringSubmatch(log); m == nil || m[1] == "0.0.0.0" {
		t.Errorf("rtmpdump saw no FMS version in S1 (%v): the server answered with a simple S1", m)
	}
	if l := logs(); !strings.Contains(l, "kind=digest") {
		t.Errorf("server did not log a digest handshake; handshake lines:\n%s", grepLines(l, "handshake"))
	}
	if t.Failed() {
		t.Logf("rtmpdump handshake output:\n%s", grepLines(log, "HandShake"))
	}

	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("rtmpdump wrote no FLV after the FP9 handshake (stat: %v)", err)
	}
	res := parseProbe(t, startProbe(t, out, 0))
	checkMedia(t, "rtmpdump FP9 FLV", res, mediaExpect{minVideoFrames: 60, minSpan: 2.5})
}

// TestE2EGStreamerPlay: GStreamer's rtmp2src + flvdemux + avdec_h264 plays
// the stream for ~5 s: the first video buffer out of flvdemux must be a
// keyframe, at least 50 frames must be decoded at 640x360 with strictly
// increasing timestamps, and audio must arrive.
func TestE2EGStreamerPlay(t *testing.T) {
	testenv.NeedTool(t, "gst-launch-1.0")
	srv, name, _ := sharedStream(t)
	srv.watch(t)

	g := parseGstPlay(startGstPlay(t, srv.url("live", name), 5*time.Second, 0, 0))
	if !g.run.interrupted {
		t.Errorf("gst-launch ended by itself on a live stream: %s", g.run.status())
	}
	for _, l := range g.problems {
		t.Errorf("gst-launch: %s", l)
	}
	t.Logf("gst: %d video buffers demuxed, %d frames decoded, %d audio buffers", len(g.demuxed), len(g.decoded), len(g.audio))
	if len(g.demuxed) == 0 || !g.demuxed[0].key {
		t.Errorf("first video buffer out of flvdemux is missing or not a keyframe (%d buffers)", len(g.demuxed))
	}
	checkIncreasing(t, "gst demuxed video dts", g.demuxed, true, 0.5)
	if len(g.decoded) < 50 {
		t.Errorf("gst decoded %d video frames in ~5 s, want at least 50", len(g.decoded))
	}
	checkIncreasing(t, "gst decoded video pts", g.decoded, true, 0.5)
	if len(g.audio) < 40 {
		t.Errorf("gst received %d audio buffers in ~5 s, want at least 40", len(g.audio))
	}
	if out := g.run.stdout.String(); !regexp.MustCompile(`vsink\.GstPad:sink: caps = video/x-raw, .*width=\(int\)640, height=\(int\)360`).MatchString(out) {
		t.Errorf("decoded caps are not 640x360 raw video:\n%s", grepLines(out, "caps = video/x-raw"))
	}
}

// GStreamer debug lines (GST_DEBUG=flvdemux:6,basesink:5) that describe
// every buffer; gst-launch -v notifications are coalesced and would
// duplicate or lose buffers under load.
var (
	gstDemuxVideo = regexp.MustCompile(`gst_flv_demux_parse_tag_video:<\w+> pushing \d+ bytes buffer at dts (\S+) .*keyframe \((\d)\)`)
	gstSinkBuffer = regexp.MustCompile(`gst_base_sink_chain_unlocked:<(\w+)> got times start: (\S+), end:`)
)

// startGstPlay starts GStreamer playing url for d: rtmp2src, flvdemux,
// avdec_h264 into one sink, the audio buffers into another. With video
// and audio > 0 it ends by itself once it has decoded that many video
// frames and received that many audio buffers, d being the limit.
func startGstPlay(t testing.TB, url string, d time.Duration, video, audio int) *toolRun {
	t.Helper()
	testenv.NeedTool(t, "gst-launch-1.0")
	eos := func(n int) []string {
		if n <= 0 {
			return nil
		}
		return []string{"identity", "eos-after=" + strconv.Itoa(n), "!"}
	}
	args := []string{"-v", "rtmp2src", "location=" + url, "!", "flvdemux", "name=d",
		"d.video", "!", "queue", "!", "h264parse", "!", "avdec_h264", "!"}
	args = append(append(args, eos(video)...), "fakesink", "name=vsink", "sync=false", "d.audio", "!", "queue", "!")
	args = append(append(args, eos(audio)...), "fakesink", "name=asink", "sync=false")
	return startTool(t, d, []string{"GST_DEBUG=flvdemux:6,basesink:5", "GST_DEBUG_NO_COLOR=1"}, "gst-launch-1.0", args...)
}

// gstPlayed is what a startGstPlay player got, from its debug log.
type gstPlayed struct {
	run      *toolRun
	demuxed  []mediaEntry // video out of flvdemux: dts, keyframe flag
	decoded  []mediaEntry // decoded video frames: pts
	audio    []mediaEntry // audio buffers out of flvdemux: pts
	problems []string     // gst-launch's ERROR and WARNING lines
}

// parseGstPlay waits for a startGstPlay run and reads its debug log.
func parseGstPlay(r *toolRun) *gstPlayed {
	r.wait()
	g := &gstPlayed{run: r}
	for _, l := range strings.Split(r.stdout.String(), "\n") {
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "WARNING") {
			g.problems = append(g.problems, l)
		}
	}
	clock := func(s string) float64 {
		v, err := parseClock(s)
		if err != nil {
			return -1 // caught by checkIncreasing
		}
		return v
	}
	dbg := r.stderr.String()
	for _, m := range gstDemuxVideo.FindAllStringSubmatch(dbg, -1) {
		g.demuxed = append(g.demuxed, mediaEntry{pts: clock(m[1]), key: m[2] == "1"})
	}
	for _, m := range gstSinkBuffer.FindAllStringSubmatch(dbg, -1) {
		switch m[1] {
		case "vsink":
			g.decoded = append(g.decoded, mediaEntry{pts: clock(m[2])})
		case "asink":
			g.audio = append(g.audio, mediaEntry{pts: clock(m[2])})
		}
	}
	return g
}

// TestE2EPublishBusy: while a stream is published, a second ffmpeg
// publishing to the same name is refused quickly with a clear error, and the
// first publisher and its players carry on undisturbed.
func TestE2EPublishBusy(t *testing.T) {
	testenv.NeedTool(t, "ffprobe")
	srv, name, _ := sharedStream(t)
	logs := srv.watch(t)
	before, _ := srv.stats("live", name)

	player := startProbe(t, srv.url("live", name), 3)
	time.Sleep(300 * time.Millisecond)
	second := runTool(t, 20*time.Second, nil, "ffmpeg", publisherArgs(srv.url("live", name), 5)...)
	if second.interrupted || second.exitCode == 0 {
		t.Errorf("second publisher was not refused: %s", second.status())
	} else if second.elapsed > 5*time.Second {
		t.Errorf("second publisher took %v to be refused, want < 5 s", second.elapsed)
	}
	if e := second.stderr.String(); !strings.Contains(e, "already being published") {
		t.Errorf("second publisher's error does not say the stream is busy:\n%s", excerpt(e, 20, nil))
	}
	if !strings.Contains(logs(), "publish refused") {
		t.Errorf("server did not log the refused publish")
	}

	mid, _ := srv.stats("live", name)
	time.Sleep(time.Second)
	after, ok := srv.stats("live", name)
	if !ok || !after.Publishing {
		t.Fatalf("stream stopped publishing after the refused second publisher: exists=%v %+v", ok, after)
	}
	if after.Source != before.Source || !after.Since.Equal(before.Since) {
		t.Errorf("publisher changed: before %q since %v, after %q since %v", before.Source, before.Since, after.Source, after.Since)
	}
	if got := after.MessagesIn - mid.MessagesIn; got < 40 {
		t.Errorf("first publisher delivered %d messages in the second after the refusal, want >= 40 (25 fps video + 43 fps audio)", got)
	}

	res := parseProbe(t, player)
	checkMedia(t, "player during refused publish", res, mediaExpect{minVideoFrames: 52, minSpan: 2.5})
}

// TestE2EUnknownAppRejected: connecting to an application that is not
// configured fails at once, for players and publishers, with the server's
// reason, and leaves nothing in the hub.
func TestE2EUnknownAppRejected(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	srv := sharedServer(t)
	logs := srv.watch(t)

	cases := map[string][]string{
		"play":    {"-hide_banner", "-loglevel", "error", "-i", srv.url("nope", "x"), "-t", "1", "-f", "null", "-"},
		"publish": publisherArgs(srv.url("nope", "x"), 3),
	}
	for _, mode := range []string{"play", "publish"} {
		t.Run(mode, func(t *testing.T) {
			r := runTool(t, 15*time.Second, nil, "ffmpeg", cases[mode]...)
			if r.interrupted || r.exitCode == 0 {
				t.Fatalf("ffmpeg %s on an unknown app was not refused: %s", mode, r.status())
			}
			if r.elapsed > 5*time.Second {
				t.Errorf("refusal took %v, want < 5 s", r.elapsed)
			}
			if e := r.stderr.String(); !strings.Contains(e, "not configured") {
				t.Errorf("ffmpeg's error does not carry the server's reason:\n%s", excerpt(e, 20, nil))
			}
		})
	}
	if n := strings.Count(logs(), `msg="rtmp connect rejected"`); n != 2 {
		t.Errorf("server logged %d connect rejections, want 2", n)
	}
	if st := srv.a.Hub().Lookup("nope", "x"); st != nil {
		t.Errorf("hub has a stream nope/x after rejected connects: %+v", st.Stats())
	}
}

// TestE2ERepublish: a publisher stops and a new one publishes the same name
// within the republish grace. A player attached at the unpublish stays (it
// gets no UnpublishNotify within the grace), an in-process hub subscriber
// stays attached across the gap and follows the new session from a
// keyframe, the hub shows the new publisher, and a fresh player plays it.
func TestE2ERepublish(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	srv := sharedServer(t)
	srv.watch(t)
	const name = "cam2"
	url := srv.url("live", name)

	obs := observe(srv.a.Hub().Subscribe("live", name, hub.StreamConfig{GOPCache: true, RepublishGrace: 10 * time.Second}))
	defer obs.close()

	first := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(url, 4)...)
	st1 := srv.waitPublishing(t, "live", name, first, 10*time.Second)
	// A player that is attached when the publisher leaves.
	attached := startProbe(t, url, 0)
	first.wait()
	if first.exitCode != 0 {
		t.Fatalf("first publisher failed: %s", first.status())
	}
	ended := time.Now()
	deadline := ended.Add(3 * time.Second)
	for {
		st, ok := srv.stats("live", name)
		if !ok || !st.Publishing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream still publishing 3 s after the publisher exited: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}

	second := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(url, 8)...)
	st2 := srv.waitPublishing(t, "live", name, second, 8*time.Second)
	if gap := time.Since(ended); gap > 10*time.Second {
		t.Errorf("republish took %v, longer than the 10 s grace", gap)
	}
	if !st2.Since.After(st1.Since) || st2.Source == st1.Source {
		t.Errorf("hub does not show the new publisher: first %q since %v, now %q since %v", st1.Source, st1.Since, st2.Source, st2.Since)
	}

	// The attached player stays: nothing tells it the publisher left
	// while one may come back (TestE2EGracePlayers checks what players
	// decode across the republish).
	if attached.exited() {
		t.Errorf("player attached across the unpublish ended within the grace: %s\n%s", attached.status(), excerpt(attached.stderr.String(), 20, nil))
	}
	attached.stop()

	fresh := startProbe(t, url, 3)
	checkMedia(t, "player after republish", parseProbe(t, fresh), mediaExpect{minVideoFrames: 52, minSpan: 2.5})

	obs.close()
	if !errors.Is(obs.err, hub.ErrClosed) {
		t.Errorf("hub subscriber ended with %v, want it attached until closed (ErrClosed)", obs.err)
	}
	if obs.ends < 1 || obs.starts < 1 {
		t.Errorf("hub subscriber saw %d stream-end and %d stream-start markers, want at least one of each", obs.ends, obs.starts)
	}
	if len(obs.sessions) < 2 {
		t.Fatalf("hub subscriber saw %d publish sessions, want 2: %+v", len(obs.sessions), obs.sessions)
	}
	for i, s := range obs.sessions[:2] {
		if s.video == 0 || !s.firstVideoKey {
			t.Errorf("hub subscriber, session %d: %d video frames, first is keyframe: %v", i+1, s.video, s.firstVideoKey)
		}
	}
}

// ---- helpers used only here ----

// minimalSWF returns a valid, empty, uncompressed SWF (version 10): header,
// a zero-bit RECT, frame rate 25, one frame, and the End tag.
func minimalSWF() []byte {
	body := []byte{0x00, 0x00, 0x19, 0x01, 0x00, 0x00, 0x00}
	swf := []byte{'F', 'W', 'S', 10, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(swf[4:], uint32(len(swf)+len(body)))
	return append(swf, body...)
}

// swfHashFromLog returns the hex SWFSHA256 that rtmpdump -z printed.
func swfHashFromLog(log string) string {
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if strings.HasSuffix(strings.TrimSpace(l), "SWFSHA256:") && i+2 < len(lines) {
			var h string
			for _, hl := range lines[i+1 : i+3] {
				h += strings.ReplaceAll(strings.TrimSpace(strings.TrimPrefix(hl, "DEBUG:")), " ", "")
			}
			return h
		}
	}
	return ""
}

// playDuration returns the duration of the one "play ended" line of
// stream name in a server log: how long the server streamed to it.
func playDuration(log, name string) (time.Duration, error) {
	var found []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="play ended"`) && logAttr(l, "stream") == name {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%d play ended lines for %s in:\n%s", len(found), name, log)
	}
	return time.ParseDuration(logAttr(found[0], "duration"))
}

// logAttr returns the unquoted value of key=value in a slog text line.
func logAttr(line, key string) string {
	i := strings.Index(line, key+"=")
	if i < 0 || (i > 0 && line[i-1] != ' ') {
		return ""
	}
	v := line[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		if u, err := strconv.QuotedPrefix(v); err == nil {
			v, _ = strconv.Unquote(u)
			return v
		}
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return excerpt(strings.Join(out, "\n"), 40, nil)
}

// lastProgress returns rtmpdump's last "kB / sec" progress report.
func lastProgress(s string) string {
	m := regexp.MustCompile(`[0-9.]+ kB / [0-9.]+ sec( \([0-9.]+%\))?`).FindAllString(s, -1)
	if len(m) == 0 {
		return "none"
	}
	return m[len(m)-1]
}

// hubObserver drains a hub subscription in the background and summarises
// what it saw per publish session.
type hubObserver struct {
	sub  *hub.Subscriber
	done chan struct{}

	// Written by the drain goroutine; read after done is closed.
	err      error
	ends     int
	starts   int
	sessions []observedSession
}

type observedSession struct {
	video         int
	firstVideoKey bool
}

func observe(sub *hub.Subscriber) *hubObserver {
	o := &hubObserver{sub: sub, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		var batch []*remux.Message
		for {
			var err error
			batch, err = sub.Next(batch[:0])
			for i, m := range batch {
				o.record(m)
				m.Release()
				batch[i] = nil
			}
			if err != nil {
				o.err = err
				return
			}
		}
	}()
	return o
}

func (o *hubObserver) record(m *remux.Message) {
	switch {
	case m.Kind == remux.KindStreamEnd:
		o.ends++
	case m.Kind == remux.KindStreamStart:
		o.starts++
		o.sessions = append(o.sessions, observedSession{})
	case m.Kind == remux.KindVideo && !m.IsSequenceHeader():
		if len(o.sessions) == 0 {
			o.sessions = append(o.sessions, observedSession{})
		}
		s := &o.sessions[len(o.sessions)-1]
		if s.video == 0 {
			s.firstVideoKey = m.IsKeyframe()
		}
		s.video++
	}
}

// close detaches the subscriber and waits for the drain goroutine.
func (o *hubObserver) close() {
	o.sub.Close()
	<-o.done
}
