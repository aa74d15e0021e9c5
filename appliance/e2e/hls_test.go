package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
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

// TestHLSLiveFFmpeg: ffmpeg as an HLS client decodes the live playlist
// without an error line, and the stream's muxer stops (unsubscribes from
// the hub) once no client asked for idle_timeout.
func TestHLSLiveFFmpeg(t *testing.T) {
	p := hlsLive(t, hlsConfig, "cam", 40, nil)
	url := "http://" + p.httpAddr + "/hls/live/cam/index.m3u8"

	t.Run("decodes", func(t *testing.T) {
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
