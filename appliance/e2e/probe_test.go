//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// ffprobe runs, and the checks of what it found in the test stream.

// probeResult is ffprobe's JSON, with the views the checks below take.
type probeResult struct{ testenv.Probe }

// probeArgs makes ffprobe demux and decode input and list streams, packets
// and frames as JSON; readFor > 0 stops after that many seconds of media.
func probeArgs(input string, readFor float64) []string {
	args := []string{
		"-hide_banner", "-v", "error",
		"-show_entries", "stream=index,codec_type,codec_name,width,height" +
			":packet=codec_type,stream_index,pts_time,flags" +
			":frame=media_type,stream_index,pts_time,key_frame,pict_type",
		"-of", "json",
	}
	if readFor > 0 {
		args = append(args, "-read_intervals", fmt.Sprintf("%%+%g", readFor))
	}
	return append(args, input)
}

func startProbe(t testing.TB, input string, readFor float64) *toolRun {
	t.Helper()
	testenv.NeedTool(t, "ffprobe")
	r := startTool(t, 30*time.Second, nil, "ffprobe", probeArgs(input, readFor)...)
	r.quietStdout = true
	return r
}

// parseProbe decodes a finished ffprobe run; it fails the test if ffprobe
// failed or reported errors.
func parseProbe(t testing.TB, r *toolRun) *probeResult {
	t.Helper()
	r.wait()
	if r.err != nil || r.interrupted {
		t.Fatalf("ffprobe failed: %s\nstderr:\n%s", r.status(), excerpt(r.stderr.String(), 40, nil))
	}
	if e := strings.TrimSpace(r.stderr.String()); e != "" {
		t.Errorf("ffprobe reported errors while demuxing/decoding:\n%s", excerpt(e, 40, nil))
	}
	var res probeResult
	if err := json.Unmarshal([]byte(r.stdout.String()), &res); err != nil {
		t.Fatalf("parsing ffprobe JSON: %v\n%s", err, excerpt(r.stdout.String(), 20, nil))
	}
	return &res
}

type mediaEntry struct {
	pts  float64
	key  bool
	pict string
}

// entries returns the packets or frames ("packet"/"frame") of one media type.
func (p *probeResult) entries(typ, media string) []mediaEntry {
	var out []mediaEntry
	for _, e := range p.PacketsAndFrames {
		if e.Type != typ {
			continue
		}
		m := e.CodecType
		if typ == "frame" {
			m = e.MediaType
		}
		if m != media {
			continue
		}
		pts, err := strconv.ParseFloat(e.PtsTime, 64)
		if err != nil {
			pts = -1 // "N/A": caught by the monotonic check
		}
		key := e.KeyFrame == 1
		if typ == "packet" {
			key = strings.HasPrefix(e.Flags, "K")
		}
		out = append(out, mediaEntry{pts: pts, key: key, pict: e.PictType})
	}
	return out
}

// mediaExpect is what a client must have received of the test stream.
type mediaExpect struct {
	minVideoFrames int     // decoded video frames
	minSpan        float64 // seconds between the first and last video frame
}

// checkMedia asserts the test publisher's stream came through intact:
// h264 640x360 and AAC, the first video packet and frame a keyframe, video
// timestamps strictly increasing without holes, enough frames, and audio.
func checkMedia(t testing.TB, label string, p *probeResult, want mediaExpect) {
	t.Helper()
	var haveVideo, haveAudio bool
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			haveVideo = true
			if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 {
				t.Errorf("%s: video stream is %s %dx%d, want h264 640x360", label, s.CodecName, s.Width, s.Height)
			}
		case "audio":
			haveAudio = true
			if s.CodecName != "aac" {
				t.Errorf("%s: audio stream is %s, want aac", label, s.CodecName)
			}
		}
	}
	if !haveVideo || !haveAudio {
		t.Errorf("%s: streams %+v: want one h264 video and one aac audio stream", label, p.Streams)
	}

	vpk := p.entries("packet", "video")
	vfr := p.entries("frame", "video")
	afr := p.entries("frame", "audio")
	t.Logf("%s: %d video packets, %d video frames, %d audio frames", label, len(vpk), len(vfr), len(afr))
	if len(vpk) == 0 || len(vfr) == 0 {
		t.Errorf("%s: no video received", label)
		return
	}
	if !vpk[0].key {
		t.Errorf("%s: first video packet (pts %.3f) is not a keyframe: the player was started mid-GOP", label, vpk[0].pts)
	}
	if !vfr[0].key || vfr[0].pict != "I" {
		t.Errorf("%s: first decoded video frame (pts %.3f) is key=%v type %s, want an I keyframe", label, vfr[0].pts, vfr[0].key, vfr[0].pict)
	}
	checkIncreasing(t, label+": video packet pts", vpk, true, 0.5)
	checkIncreasing(t, label+": video frame pts", vfr, true, 0.5)
	if len(vfr) < want.minVideoFrames {
		t.Errorf("%s: %d video frames decoded, want at least %d", label, len(vfr), want.minVideoFrames)
	}
	if span := vfr[len(vfr)-1].pts - vfr[0].pts; span < want.minSpan {
		t.Errorf("%s: video covers %.3f s (%.3f..%.3f), want at least %.1f s", label, span, vfr[0].pts, vfr[len(vfr)-1].pts, want.minSpan)
	}
	// 44100 Hz AAC is 43 frames a second; allow for start-up and jitter.
	if minAudio := int(want.minSpan * 43 * 0.7); len(afr) < minAudio {
		t.Errorf("%s: %d audio frames decoded, want at least %d", label, len(afr), minAudio)
	}
	checkIncreasing(t, label+": audio frame pts", afr, false, 0.5)
	// Every client here joins a running stream. Served from the GOP cache,
	// it starts at a keyframe with the audio that follows it; a server that
	// makes a joiner wait for the next keyframe passes audio meanwhile, so
	// video would start later than audio.
	if len(afr) > 0 && vfr[0].pts > afr[0].pts+0.1 {
		t.Errorf("%s: video starts %.3f s after audio (video %.3f, audio %.3f): the joiner waited for a keyframe instead of getting the cached GOP",
			label, vfr[0].pts-afr[0].pts, vfr[0].pts, afr[0].pts)
	}
}

// checkIncreasing reports timestamps that go backwards (or repeat, when
// strict) and holes larger than maxGap seconds.
func checkIncreasing(t testing.TB, label string, es []mediaEntry, strict bool, maxGap float64) {
	t.Helper()
	var bad []string
	for i := 1; i < len(es); i++ {
		d := es[i].pts - es[i-1].pts
		if es[i-1].pts < 0 || es[i].pts < 0 || d < 0 || (strict && d == 0) || d > maxGap {
			bad = append(bad, fmt.Sprintf("#%d %.3f -> #%d %.3f", i-1, es[i-1].pts, i, es[i].pts))
		}
	}
	if len(bad) > 0 {
		what := "non-decreasing"
		if strict {
			what = "strictly increasing"
		}
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("... %d more", len(bad)-10))
		}
		t.Errorf("%s: not %s with gaps <= %.1fs (%d entries): %s", label, what, maxGap, len(es), strings.Join(bad, ", "))
	}
}
