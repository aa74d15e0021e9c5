//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// hlsConfig serves the live app over HLS with a short idle timeout, so
// that a muxer's stop is seen quickly.
const hlsConfig = `
rtmp: {listen: "{rtmp}"}
http:
  listen: "{http}"
  hls: {idle_timeout: 2s, part_duration: 200ms, segment_duration: 1s}
storage: {dir: "{storage}"}
apps: {live: {}}
`

// hlsLive starts the binary on config and ffmpeg publishing seconds of
// H.264+AAC (1 s GOP) to live/<stream>, and waits until it is live.
func hlsLive(t *testing.T, config, stream string, seconds int, headers map[string]string) *hardProc {
	t.Helper()
	p := hardStart(t, tapedeckBinary(t), config)
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+p.rtmpAddr+"/live/"+stream, seconds)...)
	hardWaitPublishing(t, p, "live/"+stream, headers)
	return p
}

// ffmpegFrames runs ffmpeg as an HLS client decoding frames video frames
// of url to framemd5 and returns the frame lines and the error output.
func ffmpegFrames(t *testing.T, url string, frames int, extra ...string) (lines []string, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"-hide_banner", "-v", "error"}, extra...)
	args = append(args, "-i", url, "-map", "0:v", "-frames:v", strconv.Itoa(frames), "-f", "framemd5", "-")
	cmd := exec.CommandContext(ctx, testenv.NeedTool(t, "ffmpeg"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg -i %s: %v\n%s", url, err, errb.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, errb.String()
}

// streamSubscribers reads a stream's subscriber count from the API.
func streamSubscribers(t *testing.T, p *hardProc, path string, headers map[string]string) int {
	t.Helper()
	code, body := hardRequest(t, "GET", "http://"+p.httpAddr+"/api/v1/streams/"+path, headers, "")
	if code != http.StatusOK {
		t.Fatalf("GET stream %s: %d %s", path, code, body)
	}
	var st struct {
		Subscribers int `json:"subscribers"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st.Subscribers
}

// TestHLSLiveFFmpeg: GStreamer (hlsdemux2) and ffmpeg as HLS clients
// decode the live playlist without an error line, and the stream's muxer
// stops (unsubscribes from the hub) once no client asked for idle_timeout.
func TestHLSLiveFFmpeg(t *testing.T) {
	p := hlsLive(t, hlsConfig, "cam", 40, nil)
	url := "http://" + p.httpAddr + "/hls/live/cam/index.m3u8"

	t.Run("gstreamer decodes from a cold start", func(t *testing.T) {
		// First: the muxer starts with this client. hlsdemux2 starts three
		// target durations from the live edge.
		out, err := hardRun(t, 60*time.Second, "gst-launch-1.0", "uridecodebin3", "uri="+url, "caps=video/x-raw",
			"!", "identity", "eos-after=100", "!", "fakesink", "sync=true")
		if err != nil || !strings.Contains(out, "Got EOS") || strings.Contains(out, "ERROR") || strings.Contains(out, "WARNING") {
			t.Errorf("gst-launch-1.0 did not decode 100 frames cleanly: %v\n%s", err, excerpt(out, 40, nil))
		}
	})

	t.Run("ffmpeg decodes", func(t *testing.T) {
		lines, stderr := ffmpegFrames(t, url, 150)
		if len(lines) < 100 {
			t.Errorf("ffmpeg decoded %d frames, want >= 100", len(lines))
		}
		if strings.TrimSpace(stderr) != "" {
			t.Errorf("ffmpeg error output:\n%s", stderr)
		}
		if n := streamSubscribers(t, p, "live/cam", nil); n != 1 {
			t.Errorf("%d subscribers while HLS is served, want 1 (the muxer)", n)
		}
		if _, m := hardRequest(t, "GET", "http://"+p.httpAddr+"/metrics", nil, ""); !strings.Contains(m, "\ntapedeck_hls_muxers 1\n") {
			t.Errorf("/metrics does not count the running muxer:\n%s", excerpt(m, 40, nil))
		}
	})

	t.Run("stops after the last client", func(t *testing.T) {
		// The last request: the muxer must outlive it by idle_timeout (2s).
		if code, _ := hardRequest(t, "GET", url, nil, ""); code != http.StatusOK {
			t.Fatalf("playlist: %d", code)
		}
		last := time.Now()
		time.Sleep(time.Second)
		if n := streamSubscribers(t, p, "live/cam", nil); n != 1 && time.Since(last) < 2*time.Second {
			t.Errorf("%d subscribers 1s after the last request, want 1 (idle_timeout is 2s)", n)
		}
		testenv.Eventually(t, 10*time.Second, "the muxer unsubscribed", func() bool {
			return streamSubscribers(t, p, "live/cam", nil) == 0
		})
		testenv.Eventually(t, 5*time.Second, "/metrics counts no muxer", func() bool {
			_, m := hardRequest(t, "GET", "http://"+p.httpAddr+"/metrics", nil, "")
			return strings.Contains(m, "\ntapedeck_hls_muxers 0\n")
		})
		if !strings.Contains(p.logs.String(), "hls muxer stopped: no client") {
			t.Error("no log line for the muxer's stop")
		}
		// The next client starts a muxer again.
		code, body := hardRequest(t, "GET", url, nil, "")
		if code != http.StatusOK || !strings.Contains(body, "#EXT-X-PART:") {
			t.Fatalf("playlist after restart: %d\n%s", code, body)
		}
	})
}

// TestHLSNeedsToken: with http.token set, HLS playlists and media need
// the bearer token like the API.
func TestHLSNeedsToken(t *testing.T) {
	cfg := strings.Replace(hlsConfig, `listen: "{http}"`, "listen: \"{http}\"\n  token: s3cret", 1)
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	p := hlsLive(t, cfg, "cam", 20, auth)
	base := "http://" + p.httpAddr + "/hls/live/cam/"
	if code, _ := hardRequest(t, "GET", base+"index.m3u8", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("playlist without a token: %d, want 401", code)
	}
	if code, _ := hardRequest(t, "GET", base+"index.m3u8", map[string]string{"Authorization": "Bearer wrong"}, ""); code != http.StatusUnauthorized {
		t.Errorf("playlist with a wrong token: %d, want 401", code)
	}
	code, body := hardRequest(t, "GET", base+"index.m3u8", auth, "")
	if code != http.StatusOK || !strings.Contains(body, "#EXT-X-MAP:URI=\"init1.mp4\"") {
		t.Fatalf("playlist with the token: %d\n%s", code, body)
	}
	if code, _ := hardRequest(t, "GET", base+"init1.mp4", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("init segment without a token: %d, want 401", code)
	}
	if code, _ := hardRequest(t, "GET", base+"seg0.mp4", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("segment without a token: %d, want 401", code)
	}
	if code, _ := hardRequest(t, "GET", base+"init1.mp4", auth, ""); code != http.StatusOK {
		t.Errorf("init segment with the token: %d, want 200", code)
	}
	lines, stderr := ffmpegFrames(t, base+"index.m3u8", 50, "-headers", "Authorization: Bearer s3cret\r\n")
	if len(lines) < 50 || strings.TrimSpace(stderr) != "" {
		t.Errorf("ffmpeg with the token: %d frames, errors:\n%s", len(lines), stderr)
	}
}

// gstPTS finds the timestamps of the buffers a verbose fakesink reports.
var gstPTS = regexp.MustCompile(`chain   \*+.*pts: (\d+:\d\d:\d\d\.\d+)`)

// hlsRecordConfig records live/* in 2 s fMP4 segments.
const hlsRecordConfig = `
rtmp: {listen: "{rtmp}"}
http: {listen: "{http}"}
storage: {dir: "{storage}"}
apps:
  live:
    record: {format: fmp4, segment: {duration: 2s}}
`

// vodPlaylist polls the VOD playlist of live/<stream> until it lists
// want files and none is still being written.
func vodPlaylist(t *testing.T, p *hardProc, stream string, want int) string {
	t.Helper()
	url := "http://" + p.httpAddr + "/hls/vod/live/" + stream + "/index.m3u8"
	var body string
	testenv.Eventually(t, 20*time.Second, "the VOD playlist of "+stream+" lists its closed files", func() bool {
		var code int
		code, body = hardRequest(t, "GET", url, nil, "")
		return code == http.StatusOK && strings.Count(body, "#EXTINF:") == want && !strings.Contains(body, "being written")
	})
	return body
}

// packetTimes runs ffprobe -show_packets on url and returns the DTS of
// every packet per stream index.
func packetTimes(t *testing.T, url string) map[string][]float64 {
	t.Helper()
	out, err := hardRun(t, 60*time.Second, "ffprobe", "-v", "error", "-show_entries", "packet=stream_index,dts_time", "-of", "csv=p=0", url)
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	times := map[string][]float64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		idx, dts, ok := strings.Cut(l, ",")
		f, err := strconv.ParseFloat(strings.TrimSpace(dts), 64)
		if !ok || err != nil {
			t.Fatalf("ffprobe line %q (output:\n%s)", l, excerpt(out, 20, nil))
		}
		times[idx] = append(times[idx], f)
	}
	return times
}

// checkMonotonic fails the test where a stream's DTS does not increase.
func checkMonotonic(t *testing.T, times map[string][]float64) {
	t.Helper()
	for idx, ts := range times {
		for i := 1; i < len(ts); i++ {
			if ts[i] <= ts[i-1] {
				t.Errorf("stream %s: packet %d DTS %.3f after %.3f", idx, i, ts[i], ts[i-1])
				break
			}
		}
	}
}

// extinfTotal sums a playlist's EXTINF durations.
func extinfTotal(t *testing.T, pl string) float64 {
	t.Helper()
	var total float64
	for _, l := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			if err != nil {
				t.Fatalf("EXTINF %q", l)
			}
			total += f
		}
	}
	return total
}

// TestHLSVODRecording: a 3-segment recording plays through its VOD
// playlist in ffmpeg for its whole duration with monotonic timestamps,
// its files answer range requests with 206, and a recording with a gap
// gets a discontinuity and still plays in order.
func TestHLSVODRecording(t *testing.T) {
	p := hardStart(t, tapedeckBinary(t), hlsRecordConfig)
	ffmpeg := testenv.NeedTool(t, "ffmpeg")
	// pub runs an ffmpeg publisher to its end; done gets its error.
	pub := func(stream string, seconds int, done chan<- error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ffmpeg, hardPublisherArgs("rtmp://"+p.rtmpAddr+"/live/"+stream, seconds)...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("ffmpeg publishing %s: %v\n%s", stream, err, out)
		}
		done <- err
	}
	// cam: 6 s in 2 s segments. gap: 3 s, a pause, 3 s again.
	camDone, gapDone := make(chan error, 1), make(chan error, 1)
	go pub("cam", 6, camDone)
	go func() {
		first := make(chan error, 1)
		pub("gap", 3, first)
		if err := <-first; err != nil {
			gapDone <- err
			return
		}
		time.Sleep(3 * time.Second)
		pub("gap", 3, gapDone)
	}()
	for _, ch := range []chan error{camDone, gapDone} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}

	base := "http://" + p.httpAddr + "/hls/vod/live/cam/"
	pl := vodPlaylist(t, p, "cam", 3)
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST", "#EXT-X-MAP:URI="} {
		if !strings.Contains(pl, want) {
			t.Errorf("VOD playlist lacks %s:\n%s", want, pl)
		}
	}
	if n := strings.Count(pl, "#EXT-X-PROGRAM-DATE-TIME:"); n != 3 {
		t.Errorf("%d PROGRAM-DATE-TIME tags, want one per segment (3):\n%s", n, pl)
	}
	if strings.Contains(pl, "#EXT-X-DISCONTINUITY") || strings.Count(pl, "#EXT-X-MAP:") != 1 {
		t.Errorf("one continuous recording: want no discontinuity and one init section:\n%s", pl)
	}
	total := extinfTotal(t, pl)
	if total < 5.5 || total > 7 {
		t.Errorf("segments last %.3fs in all, want about 6s", total)
	}

	times := packetTimes(t, base+"index.m3u8")
	checkMonotonic(t, times)
	video := times["0"]
	if len(video) < 140 {
		t.Fatalf("%d video packets over HLS VOD, want the whole 6s at 25 fps (~150)", len(video))
	}
	if span := video[len(video)-1] - video[0]; span < total-0.5 {
		t.Errorf("video spans %.3fs, the playlist %.3fs: not played whole", span, total)
	}
	if _, stderr := ffmpegFrames(t, base+"index.m3u8", 1000); strings.TrimSpace(stderr) != "" {
		t.Errorf("ffmpeg decoding the VOD playlist:\n%s", stderr)
	}

	// GStreamer (hlsdemux2) decodes it whole too, in order.
	out, err := hardRun(t, 60*time.Second, "gst-launch-1.0", "-v", "uridecodebin3", "uri="+base+"index.m3u8", "caps=video/x-raw",
		"!", "fakesink", "sync=false", "silent=false")
	var pts []string
	for _, m := range gstPTS.FindAllStringSubmatch(out, -1) {
		pts = append(pts, m[1])
	}
	if err != nil || len(pts) < 140 || !sort.StringsAreSorted(pts) || strings.Contains(out, "ERROR") {
		t.Errorf("GStreamer decoded %d frames (sorted: %v), err %v:\n%s", len(pts), sort.StringsAreSorted(pts), err, excerpt(out, 30, nil))
	}

	// A segment and an init section answer ranges.
	var seg, init string
	for _, l := range strings.Split(pl, "\n") {
		if strings.Contains(l, ".mp4?t=") && seg == "" {
			seg = l
		}
		if u, ok := strings.CutPrefix(l, "#EXT-X-MAP:URI=\""); ok {
			init = strings.TrimSuffix(u, "\"")
		}
	}
	for _, u := range []string{seg, init} {
		req, _ := http.NewRequest("GET", base+u, nil)
		req.Header.Set("Range", "bytes=4-11")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := io.ReadFull(resp.Body, b)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || n != 8 || resp.Header.Get("Content-Range") == "" {
			t.Errorf("range of %s: %d, %d bytes, Content-Range %q; want 206 and 8 bytes", u, resp.StatusCode, n, resp.Header.Get("Content-Range"))
		}
		if u == init && string(b[:4]) != "ftyp" {
			t.Errorf("init section bytes 4-11 = %q, want ftyp...", b[:8])
		}
		if u == seg && string(b[:4]) != "moof" {
			t.Errorf("segment bytes 4-11 = %q, want moof...", b[:8])
		}
	}
	if code, _ := hardRequest(t, "GET", base+"..%2F..%2F..%2Ftapedeck.yaml?init=1", nil, ""); code != http.StatusNotFound {
		t.Errorf("a path out of storage.dir: %d, want 404", code)
	}

	// A window starting inside the first file starts the player there;
	// the window's bounds are read as RFC 3339 or unix seconds.
	m := regexp.MustCompile(`#EXT-X-PROGRAM-DATE-TIME:(\S+)`).FindStringSubmatch(pl)
	first, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	from := first.Add(time.Second)
	for _, q := range []string{"?start=" + from.Format(time.RFC3339), "?start=" + strconv.FormatInt(from.Unix(), 10) + "&end=" + strconv.FormatInt(from.Unix()+1, 10)} {
		code, body := hardRequest(t, "GET", base+"index.m3u8"+q, nil, "")
		if code != http.StatusOK || !strings.Contains(body, "#EXT-X-START:TIME-OFFSET=1.000,PRECISE=YES") {
			t.Errorf("window %s: %d, want a start 1s into the first file:\n%s", q, code, body)
		}
	}
	for _, q := range []string{"?start=yesterday", "?start=" + strconv.FormatInt(from.Unix(), 10) + "&end=" + strconv.FormatInt(from.Unix()-10, 10)} {
		if code, _ := hardRequest(t, "GET", base+"index.m3u8"+q, nil, ""); code != http.StatusBadRequest {
			t.Errorf("window %s: %d, want 400", q, code)
		}
	}
	if code, _ := hardRequest(t, "GET", base+"index.m3u8?start=2001-01-01T00:00:00Z&end=2001-01-02T00:00:00Z", nil, ""); code != http.StatusNotFound {
		t.Errorf("a window without recordings: %d, want 404", code)
	}

	// The recording with a pause: a discontinuity, times still in order.
	gpl := vodPlaylist(t, p, "gap", strings.Count(vodPlaylistNow(t, p, "gap"), "#EXTINF:"))
	if !strings.Contains(gpl, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("no discontinuity at the pause:\n%s", gpl)
	}
	checkMonotonic(t, packetTimes(t, "http://"+p.httpAddr+"/hls/vod/live/gap/index.m3u8"))
}

// vodPlaylistNow waits until the gap stream's files are all closed and
// returns its playlist.
func vodPlaylistNow(t *testing.T, p *hardProc, stream string) string {
	t.Helper()
	var body string
	testenv.Eventually(t, 20*time.Second, "the files of "+stream+" closed", func() bool {
		var code int
		code, body = hardRequest(t, "GET", "http://"+p.httpAddr+"/hls/vod/live/"+stream+"/index.m3u8", nil, "")
		return code == http.StatusOK && !strings.Contains(body, "being written")
	})
	return body
}
