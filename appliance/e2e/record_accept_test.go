//go:build linux

package e2e

// Acceptance tests for recording (issue 4, "Must show" 1-4): segments of
// every format checked packet by packet against what the publisher sent,
// a kill -9 of the server binary mid-segment, and a full disk while a
// player watches. Each takes real time (publishes of 15-25 s), so they
// are skipped with -short.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
)

// ---- helpers ----

// recordingConfig is a YAML config recording app "live" in format with
// segments of segDur under storage, the HTTP API on httpListen ("" for
// none); storageExtra holds more storage keys (indented by two spaces).
func recordingConfig(storage, format, segDur, httpListen, storageExtra string) string {
	return fmt.Sprintf(`rtmp:
  listen: "127.0.0.1:0"
http:
  listen: %q
log:
  level: debug
storage:
  dir: %q
%sapps:
  live:
    record:
      format: %s
      segment:
        duration: %s
`, httpListen, storage, storageExtra, format, segDur)
}

// startYAMLServer starts an in-process appliance from a YAML file and stops
// it at the end of the test.
func startYAMLServer(t *testing.T, yaml string) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tapedeck.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := appliance.LoadConfig(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	if cfg.RTMP.Listen != "127.0.0.1:0" || !cfg.Apps["live"].Record.Enabled {
		t.Fatalf("config not applied: rtmp.listen %q, live.record %+v", cfg.RTMP.Listen, cfg.Apps["live"].Record)
	}
	return startServer(t, cfg)
}

// teePublisherArgs is publisherArgs, also writing what is sent to copyPath
// (the tee muxer: the same packets to both), so that recordings can be
// compared packet by packet with what was published. A failing RTMP
// output does not stop the local copy. The tee muxer does not ask the
// encoders for global headers as the flv muxer does: without
// +global_header, x264 puts SPS/PPS in-band and the FLV outputs start with
// an empty AVC sequence header, which is not what publishers send.
func teePublisherArgs(url string, seconds int, copyPath string) []string {
	args := publisherArgs(url, seconds)
	args = args[:len(args)-3] // "-f", "flv", url
	return append(args, "-flags:v", "+global_header", "-flags:a", "+global_header",
		"-map", "0:v", "-map", "1:a", "-f", "tee",
		"[f=flv:onfail=ignore]"+url+"|[f=flv]"+copyPath)
}

// runCommand runs a command under a deadline and returns stdout and stderr.
func runCommand(t *testing.T, limit time.Duration, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// framePacket is one packet as ffmpeg's framemd5 muxer lists it (stream
// copy: the bytes as stored, not decoded).
type framePacket struct {
	pts, dur float64 // seconds
	size     int
	hash     string
}

// listPackets lists the video and audio packets of a file.
func listPackets(t *testing.T, path string) (video, audio []framePacket) {
	t.Helper()
	out, errOut, err := runCommand(t, time.Minute, "ffmpeg", "-hide_banner", "-v", "error", "-i", path,
		"-map", "0", "-c", "copy", "-f", "framemd5", "-")
	if err != nil {
		t.Fatalf("framemd5 of %s: %v\n%s", path, err, errOut)
	}
	tb := map[int]float64{}
	media := map[int]string{}
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "#tb "); ok { // "#tb 0: 1/1000"
			var i, num, den int
			if _, err := fmt.Sscanf(rest, "%d: %d/%d", &i, &num, &den); err == nil && den > 0 {
				tb[i] = float64(num) / float64(den)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(l, "#media_type "); ok { // "#media_type 0: video"
			var i int
			var m string
			if _, err := fmt.Sscanf(rest, "%d: %s", &i, &m); err == nil {
				media[i] = m
			}
			continue
		}
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Split(l, ",")
		if len(f) < 6 {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		idx, _ := strconv.Atoi(f[0])
		pts, _ := strconv.ParseInt(f[2], 10, 64)
		dur, _ := strconv.ParseInt(f[3], 10, 64)
		size, _ := strconv.Atoi(f[4])
		p := framePacket{pts: float64(pts) * tb[idx], dur: float64(dur) * tb[idx], size: size, hash: f[5]}
		switch media[idx] {
		case "video":
			video = append(video, p)
		case "audio":
			audio = append(audio, p)
		}
	}
	return video, audio
}

// probeFile returns a file's codecs by type and its duration as ffprobe
// reports them.
func probeFile(t *testing.T, path string) (codecs map[string]string, duration float64) {
	t.Helper()
	out, errOut, err := runCommand(t, time.Minute, "ffprobe", "-v", "error",
		"-show_entries", "stream=codec_type,codec_name:format=duration", "-of", "json", path)
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, errOut)
	}
	if strings.TrimSpace(errOut) != "" {
		t.Errorf("ffprobe %s reported errors:\n%s", filepath.Base(path), errOut)
	}
	var r testenv.Probe
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	codecs = map[string]string{}
	for _, s := range r.Streams {
		codecs[s.CodecType] += s.CodecName
	}
	duration, err = strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Errorf("%s: ffprobe duration %q", filepath.Base(path), r.Format.Duration)
	}
	return codecs, duration
}

// checkSegmentFile asserts what every recorded segment must be: one h264 and
// one aac stream, and a decode (`ffmpeg -v error -i SEG -f null -`) that
// prints nothing. It returns ffprobe's duration.
func checkSegmentFile(t *testing.T, path string) float64 {
	t.Helper()
	codecs, dur := probeFile(t, path)
	if len(codecs) != 2 || codecs["video"] != "h264" || codecs["audio"] != "aac" {
		t.Errorf("%s: streams %v, want one h264 video and one aac audio", filepath.Base(path), codecs)
	}
	_, errOut, err := runCommand(t, time.Minute, "ffmpeg", "-hide_banner", "-v", "error", "-i", path, "-f", "null", "-")
	if err != nil || errOut != "" {
		t.Errorf("%s: `ffmpeg -v error -i SEG -f null -` failed or printed (err %v):\n%s", filepath.Base(path), err, excerpt(errOut, 20, nil))
	}
	return dur
}

// packetSpan is the time a run of packets covers: last pts - first pts + the
// duration of one packet.
func packetSpan(ps []framePacket, frame float64) float64 {
	if len(ps) == 0 {
		return 0
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = min(lo, p.pts), max(hi, p.pts)
	}
	return hi - lo + frame
}

// findPackets returns where seg occurs as a contiguous run in src, or -1.
func findPackets(src, seg []framePacket) int {
	if len(seg) == 0 {
		return -1
	}
	for i := range src {
		if src[i].hash != seg[0].hash || i+len(seg) > len(src) {
			continue
		}
		ok := true
		for k := range seg {
			if src[i+k].hash != seg[k].hash {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// checkContinuity checks the segments' packets of one track against the
// published ones: each segment is a contiguous run of published packets
// (nothing altered, lost or duplicated inside it), and from one segment to
// the next nothing is recorded twice (overlap) and at most maxGap packets
// are missing. In time: segment i+1 starts, in the published timeline,
// where the durations of the segments before it (each measured on its own
// rebased timestamps: last pts - first pts + one frame) say, give or take
// maxGap frames. It returns where the first segment starts in src and how
// many packets the segments hold.
func checkContinuity(t *testing.T, track string, src []framePacket, segs [][]framePacket, names []string, frame float64, maxGap int) (first, recorded int) {
	t.Helper()
	offs := make([]int, len(segs))
	for i, seg := range segs {
		offs[i] = findPackets(src, seg)
		recorded += len(seg)
		if offs[i] < 0 {
			srcSet := map[string]bool{}
			for _, p := range src {
				srcSet[p.hash] = true
			}
			known := 0
			for _, p := range seg {
				if srcSet[p.hash] {
					known++
				}
			}
			t.Errorf("%s: the packets of %s are not a contiguous run of the published ones (%d of its %d packets were published)",
				track, filepath.Base(names[i]), known, len(seg))
			return -1, recorded
		}
	}
	cum := 0.0
	for i := range segs {
		cum += packetSpan(segs[i], frame)
		if i+1 == len(segs) {
			break
		}
		end := offs[i] + len(segs[i])
		gap := offs[i+1] - end
		// Where segment i+1 starts in the published timeline, and where
		// the durations of the segments so far put it.
		at := src[offs[i+1]].pts - src[offs[0]].pts
		t.Logf("%s: %s -> %s: next starts at published packet %d (%.3f s), previous ends at %d; cumulative durations say %.3f s (diff %+.3f s)",
			track, filepath.Base(names[i]), filepath.Base(names[i+1]), offs[i+1], at, end, cum, at-cum)
		switch {
		case gap < 0:
			t.Errorf("%s: segments %s and %s overlap: %d packets recorded in both", track,
				filepath.Base(names[i]), filepath.Base(names[i+1]), -gap)
		case gap > maxGap:
			t.Errorf("%s: %d packets (%.3f s) missing between %s and %s (at most %d allowed)", track, gap,
				src[offs[i+1]].pts-src[end-1].pts-frame, filepath.Base(names[i]), filepath.Base(names[i+1]), maxGap)
		}
		if d := at - cum; d < -0.002 || d > float64(maxGap)*frame+0.002 {
			t.Errorf("%s: %s starts at %.3f s of the published stream, but the segments before it last %.3f s: %s of %.3f s",
				track, filepath.Base(names[i+1]), at, cum, map[bool]string{true: "overlap", false: "gap"}[d < 0], math.Abs(d))
		}
	}
	return offs[0], recorded
}

// waitSegmentsClosed waits until the stream is no longer published and every
// segment file under dir has been reported done ("segment closed" logged
// once per file, no .tmp left), twice in a row, and returns the files in
// recording order.
func waitSegmentsClosed(t *testing.T, srv *testServer, app, stream, dir string, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	stable := 0
	for {
		segs := findSegments(t, dir)
		tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
		done := strings.Count(srv.log.String(), `msg="segment closed"`)
		st, _ := srv.stats(app, stream)
		if !st.Publishing && len(segs) > 0 && done == len(segs) && len(tmps) == 0 {
			if stable++; stable == 2 {
				slices.Sort(segs) // names are start times; "-1", "-2" when taken
				return segs
			}
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments not closed %v after the publish: %d files %v, %d 'segment closed', tmp %v, publishing %v",
				timeout, len(segs), segs, done, tmps, st.Publishing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---- FLV onMetaData ----

// amfReader reads AMF0 values.
type amfReader struct {
	b   []byte
	p   int
	bad bool
}

func (r *amfReader) take(n int) []byte {
	if r.bad || n < 0 || r.p+n > len(r.b) {
		r.bad = true
		return make([]byte, max(n, 0))
	}
	v := r.b[r.p : r.p+n]
	r.p += n
	return v
}

func (r *amfReader) str(n int) string { return string(r.take(n)) }

func (r *amfReader) props(depth int) map[string]any {
	m := map[string]any{}
	for !r.bad {
		k := r.str(int(binary.BigEndian.Uint16(r.take(2))))
		if k == "" && r.p < len(r.b) && r.b[r.p] == 0x09 {
			r.p++
			return m
		}
		m[k] = r.value(depth + 1)
	}
	return m
}

func (r *amfReader) value(depth int) any {
	if depth > 16 {
		r.bad = true
		return nil
	}
	switch typ := r.take(1)[0]; typ {
	case 0x00:
		return math.Float64frombits(binary.BigEndian.Uint64(r.take(8)))
	case 0x01:
		return r.take(1)[0] != 0
	case 0x02:
		return r.str(int(binary.BigEndian.Uint16(r.take(2))))
	case 0x0C:
		return r.str(int(binary.BigEndian.Uint32(r.take(4))))
	case 0x03:
		return r.props(depth)
	case 0x08:
		r.take(4) // approximate count
		return r.props(depth)
	case 0x0A:
		n := int(binary.BigEndian.Uint32(r.take(4)))
		var a []any
		for i := 0; i < n && !r.bad; i++ {
			a = append(a, r.value(depth+1))
		}
		return a
	case 0x05, 0x06:
		return nil
	case 0x0B:
		r.take(10)
		return nil
	default:
		r.bad = true
		return nil
	}
}

// flvTag is one tag of an FLV file.
type flvTag struct {
	typ  byte
	ts   int64 // ms
	pos  int64
	body []byte
}

// parseFLV parses an FLV file: its onMetaData (the first tag) and tags.
func parseFLV(data []byte) (meta map[string]any, tags []flvTag, err error) {
	if len(data) < 13 || string(data[:3]) != "FLV" {
		return nil, nil, fmt.Errorf("not an FLV file")
	}
	p := int(binary.BigEndian.Uint32(data[5:9])) + 4
	for p+11 <= len(data) {
		size := int(data[p+1])<<16 | int(data[p+2])<<8 | int(data[p+3])
		ts := int64(data[p+4])<<16 | int64(data[p+5])<<8 | int64(data[p+6]) | int64(data[p+7])<<24
		if p+11+size+4 > len(data) {
			return nil, nil, fmt.Errorf("tag at %d (size %d) runs past the end (%d bytes)", p, size, len(data))
		}
		tags = append(tags, flvTag{typ: data[p] & 0x1F, ts: ts, pos: int64(p), body: data[p+11 : p+11+size]})
		p += 11 + size + 4
	}
	if len(tags) == 0 || tags[0].typ != 18 {
		return nil, tags, fmt.Errorf("first tag is not script data")
	}
	r := &amfReader{b: tags[0].body}
	if name := r.value(0); name != "onMetaData" {
		return nil, tags, fmt.Errorf("first script tag is %v, not onMetaData", name)
	}
	m, _ := r.value(0).(map[string]any)
	if r.bad || m == nil {
		return nil, tags, fmt.Errorf("onMetaData not readable")
	}
	return m, tags, nil
}

// checkFLVMetadata asserts an FLV segment's onMetaData: a duration that
// matches its media and a keyframes index {times, filepositions} listing
// every video keyframe, each position the start of that keyframe's tag.
func checkFLVMetadata(t *testing.T, path string, mediaSpan float64) {
	t.Helper()
	name := filepath.Base(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	meta, tags, err := parseFLV(data)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	dur, _ := meta["duration"].(float64)
	if dur <= 0 || math.Abs(dur-mediaSpan) > 0.15 {
		t.Errorf("%s: onMetaData duration %v, want > 0 and about the %.3f s of media in the file", name, meta["duration"], mediaSpan)
	}
	kf, _ := meta["keyframes"].(map[string]any)
	times, _ := kf["times"].([]any)
	pos, _ := kf["filepositions"].([]any)
	byPos := map[int64]flvTag{}
	var keyTags []flvTag
	for _, tg := range tags {
		byPos[tg.pos] = tg
		// A video keyframe that is not a sequence header (AVC packet type 0).
		if tg.typ == 9 && len(tg.body) > 1 && tg.body[0]>>4 == 1 && tg.body[1] != 0 {
			keyTags = append(keyTags, tg)
		}
	}
	if len(times) < 2 || len(times) != len(pos) || len(times) != len(keyTags) {
		t.Errorf("%s: onMetaData keyframes has %d times and %d filepositions, want one per video keyframe (%d, at least 2): %v",
			name, len(times), len(pos), len(keyTags), meta["keyframes"])
		return
	}
	for i := range times {
		tm, _ := times[i].(float64)
		fp, _ := pos[i].(float64)
		tg, ok := byPos[int64(fp)]
		if !ok || tg.typ != 9 || tg.body[0]>>4 != 1 {
			t.Errorf("%s: keyframes.filepositions[%d] = %v is not the start of a video keyframe tag", name, i, fp)
			continue
		}
		if math.Abs(tm-float64(tg.ts)/1000) > 0.0015 {
			t.Errorf("%s: keyframes.times[%d] = %v but the keyframe tag at %v has timestamp %d ms", name, i, tm, fp, tg.ts)
		}
	}
	t.Logf("%s: onMetaData duration %.3f s, %d keyframes indexed", name, dur, len(times))
}

// ---- 1, 2: segments of every format ----

// An ffmpeg publish of 25 s with 10 s segments, in each format: at least
// two segments under storage.dir/live/cam1, each with h264 and aac that
// decode without a message; durations summing to the published time ±1 s;
// consecutive segments that neither overlap nor leave a gap of more than
// one frame (checked on the packets themselves against a copy of what the
// publisher sent); FLV segments with duration and a keyframes index in
// their onMetaData.
func TestRecordAcceptSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("25 s publishes; skipped with -short")
	}
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	// The three formats publish at the same time (each to its own
	// appliance), then are checked one by one: 25 s of wall time for all,
	// whatever -parallel says.
	var runs []*segmentRun
	for _, format := range []string{"fmp4", "mp4", "flv"} {
		runs = append(runs, startSegmentRun(t, format))
	}
	for _, r := range runs {
		t.Run(r.format, func(t *testing.T) { checkSegmentRun(t, r) })
	}
}

const segmentSeconds = 25

// segmentRun is one format's appliance and publisher.
type segmentRun struct {
	format, storage, published string
	srv                        *testServer
	pub                        *toolRun
}

func startSegmentRun(t *testing.T, format string) *segmentRun {
	r := &segmentRun{format: format, storage: filepath.Join(t.TempDir(), "rec"), published: filepath.Join(t.TempDir(), "published.flv")}
	r.srv = startYAMLServer(t, recordingConfig(r.storage, format, "10s", "", ""))
	r.srv.watch(t)
	r.pub = startTool(t, maxToolTime, nil, "ffmpeg", teePublisherArgs(r.srv.url("live", "cam1"), segmentSeconds, r.published)...)
	r.srv.waitPublishing(t, "live", "cam1", r.pub, 15*time.Second)
	return r
}

func checkSegmentRun(t *testing.T, r *segmentRun) {
	const seconds = segmentSeconds
	format, storage, published, srv, pub := r.format, r.storage, r.published, r.srv, r.pub
	pub.wait()
	if pub.err != nil || pub.interrupted {
		t.Fatalf("publisher failed: %s", pub.report())
	}
	segs := waitSegmentsClosed(t, srv, "live", "cam1", filepath.Join(storage, "live", "cam1"), 20*time.Second)
	ext := map[string]string{"fmp4": ".mp4", "mp4": ".mp4", "flv": ".flv"}[format]
	for _, s := range segs {
		if filepath.Ext(s) != ext {
			t.Errorf("segment %s: want extension %s", s, ext)
		}
	}
	if len(segs) < 2 {
		t.Fatalf("%d segments for a %d s publish with 10 s segments, want at least 2: %v", len(segs), seconds, segs)
	}

	srcV, srcA := listPackets(t, published)
	pubDur := packetSpan(srcV, 0.040)
	t.Logf("published: %d video packets (%.3f s), %d audio packets", len(srcV), pubDur, len(srcA))
	if math.Abs(pubDur-seconds) > 0.5 {
		t.Fatalf("the publisher's copy holds %.3f s of video, want %d s", pubDur, seconds)
	}
	var total float64
	var vsegs, asegs [][]framePacket
	for _, s := range segs {
		d := checkSegmentFile(t, s)
		total += d
		v, a := listPackets(t, s)
		if len(v) == 0 || len(a) == 0 {
			t.Errorf("%s: %d video and %d audio packets", filepath.Base(s), len(v), len(a))
		}
		vsegs, asegs = append(vsegs, v), append(asegs, a)
		t.Logf("%s: %.3f s (ffprobe), video %d packets over %.3f s, audio %d packets", filepath.Base(s), d, len(v), packetSpan(v, 0.040), len(a))
		if format == "flv" {
			checkFLVMetadata(t, s, max(packetSpan(v, 0.040), packetSpan(a, 1024.0/44100)))
		}
	}
	if math.Abs(total-pubDur) > 1 {
		t.Errorf("segment durations sum to %.3f s, published %.3f s: want within 1 s", total, pubDur)
	}
	first, n := checkContinuity(t, "video", srcV, vsegs, segs, 0.040, 1)
	if first >= 0 {
		t.Logf("video: recording starts at published frame %d; %d of %d frames recorded", first, n, len(srcV))
		if missed := len(srcV) - n; missed > first+len(segs)-1 {
			t.Errorf("video: %d of %d published frames not recorded", missed, len(srcV))
		}
	}
	firstA, nA := checkContinuity(t, "audio", srcA, asegs, segs, 1024.0/44100, 1)
	if firstA >= 0 {
		t.Logf("audio: recording starts at published packet %d; %d of %d packets recorded", firstA, nA, len(srcA))
	}
}

// ---- 3: kill -9 ----

// serverProc is the appliance binary run as a subprocess.
type serverProc struct {
	*binProc
	log  *testenv.SyncBuf
	addr string
}

var listeningLine = regexp.MustCompile(`msg="rtmp listening" addr=(\S+)`)

// startServerProc runs `tapedeck run -c cfg` and waits until its RTMP listener
// is up (recovery runs before that). The process is killed at the end of
// the test if still running; its log is shown when the test failed.
func startServerProc(t *testing.T, bin, cfg, label string) *serverProc {
	t.Helper()
	p := &serverProc{log: &testenv.SyncBuf{Max: 8 << 20}}
	tail := func() string { return label + " server log:\n" + excerpt(p.log.String(), 200, nil) }
	p.binProc = startBinary(t, bin, cfg, p.log, 0, tail)
	p.waitReady(t, func() bool {
		m := listeningLine.FindStringSubmatch(p.log.String())
		if m != nil {
			p.addr = m[1]
		}
		return m != nil
	}, 20*time.Second, "RTMP listening", tail)
	return p
}

// kill -9 of the server 12 s into a segment (of 10 minutes), for each
// format: after a restart on the same storage (recovery runs at start),
// the cut segment decodes without a message, lasts at least 10 s and
// holds exactly the first packets that were published.
func TestRecordAcceptKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s publishes; skipped with -short")
	}
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	bin := tapedeckBinary(t)
	// All three formats record at once, each its own server process;
	// each server is killed 12 s into its segment, then each is restarted
	// and checked in turn.
	var runs []*killRun
	for _, format := range []string{"fmp4", "mp4", "flv"} {
		runs = append(runs, startKillRun(t, bin, format))
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range runs {
		for r.seg == "" {
			if segs := findSegments(t, r.segDir); len(segs) > 0 {
				r.seg, r.opened = segs[0], time.Now()
				break
			}
			if r.pub.exited() || time.Now().After(deadline) {
				t.Fatalf("%s: no segment file under %s (publisher %s)", r.format, r.segDir, r.pub.status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	slices.SortFunc(runs, func(a, b *killRun) int { return a.opened.Compare(b.opened) })
	for _, r := range runs {
		// The moment is the point of the test: 12 s of wall time into the
		// segment, whatever the writer has flushed by then.
		time.Sleep(time.Until(r.opened.Add(12 * time.Second)))
		if r.pub.exited() {
			t.Fatalf("%s: publisher ended before the kill: %s", r.format, r.pub.report())
		}
		if err := r.p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-r.p1.done
		r.killedAfter = time.Since(r.opened)
		if fi, err := os.Stat(r.seg); err == nil {
			r.sizeAtKill = fi.Size()
		}
	}
	for _, r := range runs {
		r.pub.stop() // finishes the publisher's local copy
	}
	for _, r := range runs {
		t.Run(r.format, func(t *testing.T) { checkKilled(t, bin, r) })
	}
}

// killRun is one format's server process and publisher.
type killRun struct {
	format, cfg, published, segDir string
	p1                             *serverProc
	pub                            *toolRun
	seg                            string
	opened                         time.Time
	killedAfter                    time.Duration
	sizeAtKill                     int64
}

func startKillRun(t *testing.T, bin, format string) *killRun {
	dir := t.TempDir()
	storage := filepath.Join(dir, "rec")
	r := &killRun{format: format, cfg: filepath.Join(dir, "tapedeck.yaml"), published: filepath.Join(dir, "published.flv"),
		segDir: filepath.Join(storage, "live", "cam1")}
	if err := os.WriteFile(r.cfg, []byte(recordingConfig(storage, format, "10m", "", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	r.p1 = startServerProc(t, bin, r.cfg, format+" (killed)")
	r.pub = startTool(t, maxToolTime, nil, "ffmpeg", teePublisherArgs("rtmp://"+r.p1.addr+"/live/cam1", 20, r.published)...)
	return r
}

func checkKilled(t *testing.T, bin string, r *killRun) {
	format, segDir := r.format, r.segDir
	if segs := findSegments(t, segDir); len(segs) != 1 {
		t.Fatalf("after the kill: segments %v, want one", segs)
	}
	p2 := startServerProc(t, bin, r.cfg, format+" (restarted)")
	recovered := regexp.MustCompile(`msg="recording recovered after a crash".*`).FindAllString(p2.log.String(), -1)
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.done:
		if !p2.cmd.ProcessState.Success() {
			t.Errorf("restarted server: %v after SIGTERM", p2.cmd.ProcessState)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("restarted server did not exit 15 s after SIGTERM")
	}
	fi, err := os.Stat(r.seg)
	if err != nil {
		t.Fatalf("cut segment gone after restart: %v", err)
	}
	t.Logf("%s: killed %.1f s after it appeared; %d bytes at the kill, %d after restart; recovery: %q",
		filepath.Base(r.seg), r.killedAfter.Seconds(), r.sizeAtKill, fi.Size(), recovered)
	if tmps, _ := filepath.Glob(filepath.Join(segDir, "*.tmp")); len(tmps) > 0 {
		t.Errorf("leftovers after restart: %v", tmps)
	}
	// The segment the kill left open was repaired at the restart: its
	// open marker is gone, so the start after that leaves it alone.
	if marks, _ := filepath.Glob(filepath.Join(segDir, "*"+recorder.OpenMarkerSuffix)); len(marks) > 0 {
		t.Errorf("open markers after restart: %v", marks)
	}
	if format == "flv" && len(recovered) == 0 {
		t.Errorf("FLV segment cut by the kill: no 'recording recovered' at restart (its onMetaData placeholder needs repairing)")
	}
	// Idempotent: a third start reports nothing and leaves the file as is.
	before, _ := os.ReadFile(r.seg)
	p3 := startServerProc(t, bin, r.cfg, format+" (restarted again)")
	again := regexp.MustCompile(`msg="(recording recovered after a crash|damaged recording left as is)".*`).FindAllString(p3.log.String(), -1)
	p3.cmd.Process.Signal(syscall.SIGTERM)
	<-p3.done
	if after, _ := os.ReadFile(r.seg); len(again) > 0 || !bytes.Equal(after, before) {
		t.Errorf("second restart: reports %q, segment unchanged: %v", again, bytes.Equal(after, before))
	}

	dur := checkSegmentFile(t, r.seg)
	v, a := listPackets(t, r.seg)
	t.Logf("cut segment: %.3f s (ffprobe), %d video packets over %.3f s, %d audio packets", dur, len(v), packetSpan(v, 0.040), len(a))
	if dur < 10-0.001 {
		t.Errorf("cut segment lasts %.3f s, want at least 10 s (killed 12 s in)", dur)
	}
	if format == "flv" {
		checkFLVMetadata(t, r.seg, max(packetSpan(v, 0.040), packetSpan(a, 1024.0/44100)))
	}
	srcV, srcA := listPackets(t, r.published)
	names := []string{r.seg}
	if first, _ := checkContinuity(t, "video", srcV, [][]framePacket{v}, names, 0.040, 0); first != 0 {
		t.Errorf("video: the cut segment starts at published frame %d, want 0", first)
	}
	if first, _ := checkContinuity(t, "audio", srcA, [][]framePacket{a}, names, 1024.0/44100, 0); first > 1 {
		t.Errorf("audio: the cut segment starts at published packet %d", first)
	}
}

// ---- 4: disk full ----

// mountTmpfs mounts a tmpfs of size (e.g. "1m") on a new directory and
// unmounts it at the end of the test (after the cleanups registered later,
// such as the appliance's shutdown, have run). Without the right to mount
// the test is skipped, unless CI=true.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Need(t, "mounting a tmpfs", fmt.Errorf("%v %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// httpGet fetches an API URL.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func metricValue(text, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return math.NaN()
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// Storage on a 1 MB tmpfs fills within seconds: the recorder pauses with
// "recording paused" logged and the metrics and stream API saying so,
// while the publisher is never held back and a player receives the whole
// stream at full frame rate; once space is freed, recording resumes.
func TestRecordAcceptDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("18 s publish; skipped with -short")
	}
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	storage := mountTmpfs(t, "1m")
	// Retention off (no min_free, no sweep during the test): only the
	// disk decides.
	srv := startYAMLServer(t, recordingConfig(storage, "fmp4", "10m", "127.0.0.1:0", "  min_free: \"\"\n  sweep_every: 1h\n"))
	logs := srv.watch(t)
	api := "http://" + srv.a.HTTPAddr().String()
	if mf := srv.a.Config().Storage.MinFree; !mf.IsZero() {
		t.Logf("storage.min_free is %q (wanted off)", mf)
	}

	const seconds = 18
	pub := startTool(t, maxToolTime, nil, "ffmpeg", publisherArgs(srv.url("live", "cam1"), seconds)...)
	srv.waitPublishing(t, "live", "cam1", pub, 15*time.Second)
	player := startProbe(t, srv.url("live", "cam1"), 12)

	// The disk fills (~240 KB/s into 1 MB): paused, in the log, the
	// metrics and the stream's API entry.
	deadline := time.Now().Add(14 * time.Second)
	var metrics string
	for {
		metrics = httpGet(t, api+"/metrics")
		if metricValue(metrics, "tapedeck_recording_write_errors") > 0 && metricValue(metrics, "tapedeck_recording_paused") == 1 {
			break
		}
		if time.Now().After(deadline) || pub.exited() {
			t.Fatalf("no paused recording with write errors in /metrics (publisher %s):\n%s", pub.status(),
				excerpt(metrics, 400, func(l string) bool { return !strings.Contains(l, "recording") }))
		}
		time.Sleep(100 * time.Millisecond)
	}
	pausedAt := time.Since(pub.started)
	var sj struct {
		Recording *struct {
			WriteErrors int64 `json:"write_errors"`
			Paused      bool  `json:"paused"`
		} `json:"recording"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, api+"/api/v1/streams/live/cam1")), &sj); err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f s into the publish: write_errors %v, paused %v; stream API recording %+v", pausedAt.Seconds(),
		metricValue(metrics, "tapedeck_recording_write_errors"), metricValue(metrics, "tapedeck_recording_paused"), sj.Recording)
	if sj.Recording == nil || sj.Recording.WriteErrors == 0 {
		t.Errorf("stream API: recording %+v, want write errors", sj.Recording)
	}
	if !strings.Contains(logs(), "recording paused") {
		t.Errorf("no 'recording paused' in the log")
	}

	// Space comes back (what retention or a user does): recording resumes.
	for _, f := range findSegments(t, storage) {
		os.Remove(f)
	}
	freedAt := time.Now()
	for !strings.Contains(logs(), "recording resumed") {
		if pub.exited() {
			t.Errorf("recording did not resume within %v of freeing space, before the publish ended", time.Since(freedAt).Round(time.Millisecond))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(logs(), "recording resumed") {
		t.Logf("recording resumed %.1f s after space was freed", time.Since(freedAt).Seconds())
	}

	// The player got 12 s of the stream, every frame, in real time.
	res := parseProbe(t, player)
	checkMedia(t, "player during disk full", res, mediaExpect{minVideoFrames: 12*25 - 5, minSpan: 11.5})
	checkIncreasing(t, "player during disk full: video frame pts (full frame rate)", res.entries("frame", "video"), true, 0.041)
	// A player joining gets the cached GOP (up to 2 s) at once, then the
	// stream as it is published.
	if player.elapsed > 14*time.Second {
		t.Errorf("the player took %v to receive 12 s of media: the stream stalled", player.elapsed.Round(time.Millisecond))
	}
	pub.wait()
	if pub.err != nil || pub.interrupted {
		t.Errorf("publisher: %s", pub.report())
	}
	if pub.elapsed > (seconds+4)*time.Second {
		t.Errorf("a %d s publish took %v: the publisher was held back", seconds, pub.elapsed.Round(time.Millisecond))
	}
	t.Logf("player %v for 12 s of media; publisher %v for %d s", player.elapsed.Round(time.Millisecond), pub.elapsed.Round(time.Millisecond), seconds)
	if st, ok := srv.stats("live", "cam1"); ok {
		t.Logf("stream stats: %+v", st)
	}
}
