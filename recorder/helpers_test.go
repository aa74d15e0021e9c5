package recorder

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// ---- test media, encoded once by ffmpeg ----

var (
	mediaOnce sync.Once
	mediaDir  string
	mediaErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mediaDir != "" {
		os.RemoveAll(mediaDir)
	}
	os.Exit(code)
}

// needTools skips the test when ffmpeg/ffprobe are missing, unless CI=true.
func needTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found (required when CI=true)", tool)
			}
			t.Skipf("%s not found", tool)
		}
	}
}

// mediaFile returns an FLV encoded by ffmpeg, made once per test binary.
// name selects the variant: "av" (H.264 320x240@25, GOP 25, AAC, 6 s) or
// "audio" (AAC only, 6 s).
func mediaFile(t testing.TB, name string) string {
	t.Helper()
	needTools(t)
	mediaOnce.Do(func() {
		mediaDir, mediaErr = os.MkdirTemp("", "recorder-media-")
		if mediaErr != nil {
			return
		}
		runs := map[string][]string{
			"av": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
				"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "flv"},
			"audio": {"-f", "lavfi", "-i", "sine", "-t", "6", "-c:a", "aac", "-f", "flv"},
			// B-frames (composition offsets), MP3 audio.
			"bframes": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
				"-t", "6", "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "25", "-c:a", "libmp3lame", "-f", "flv"},
			"vp9": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libvpx-vp9",
				"-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-f", "ivf"},
			"av1": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libaom-av1",
				"-usage", "realtime", "-cpu-used", "8", "-g", "25", "-f", "ivf"},
			"opus": {"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4", "-c:a", "libopus", "-f", "ogg"},
			// Raw HEVC (Annex B) for Enhanced RTMP messages built by the test.
			"hevc": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libx265",
				"-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error", "-f", "hevc"},
		}
		for n, args := range runs {
			out := filepath.Join(mediaDir, n+mediaExt[n])
			args = append([]string{"-v", "error", "-y"}, append(args, out)...)
			if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				mediaErr = fmt.Errorf("ffmpeg %s: %v\n%s", n, err, b)
				return
			}
		}
	})
	if mediaErr != nil {
		t.Fatal(mediaErr)
	}
	return filepath.Join(mediaDir, name+mediaExt[name])
}

var mediaExt = map[string]string{"av": ".flv", "audio": ".flv", "bframes": ".flv",
	"hevc": ".h265", "vp9": ".ivf", "av1": ".ivf", "opus": ".ogg"}

// tagSpec is one FLV tag read back from a file.
type tagSpec struct {
	kind remux.Kind
	ts   uint32
	body []byte
	pos  int64 // offset of the tag header
}

// readFLV parses an FLV file's tags.
func readFLV(t testing.TB, path string) []tagSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 13 || string(b[:3]) != "FLV" {
		t.Fatalf("%s: not an FLV file", path)
	}
	var tags []tagSpec
	p := int(binary.BigEndian.Uint32(b[5:])) + 4
	for p+11 <= len(b) {
		size := int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
		ts := uint32(b[p+4])<<16 | uint32(b[p+5])<<8 | uint32(b[p+6]) | uint32(b[p+7])<<24
		if p+11+size+4 > len(b) {
			break
		}
		tags = append(tags, tagSpec{kind: remux.Kind(b[p] & 0x1F), ts: ts, body: b[p+11 : p+11+size], pos: int64(p)})
		p += 11 + size + 4
	}
	return tags
}

// messages turns tags into fresh messages (one reference each).
func messages(tags []tagSpec) []*remux.Message {
	ms := make([]*remux.Message, len(tags))
	for i, tg := range tags {
		ms[i] = remux.NewMessage(tg.kind, tg.ts, tg.body)
	}
	return ms
}

// fakeSource hands out messages in batches, then returns io.EOF (or blocks
// until closed when block is set).
type fakeSource struct {
	msgs    []*remux.Message
	batch   int
	i       int
	block   bool
	closed  chan struct{}
	drained chan struct{} // closed when a blocking source has handed out everything
	once    sync.Once
	clock   *atomic.Int64 // set to each message's timestamp as it is handed out
	wait    func()        // if set, called before each batch is handed out
}

func newSource(msgs []*remux.Message) *fakeSource {
	return &fakeSource{msgs: msgs, batch: 7, closed: make(chan struct{}), drained: make(chan struct{})}
}

// blockingSource is the "av" test file as a source that, once drained,
// blocks until closed instead of ending: for the tests that stop a
// recording from outside while its segment is open. It returns the
// messages too, to check that they are released.
func blockingSource(t *testing.T) ([]*remux.Message, *fakeSource) {
	t.Helper()
	msgs := messages(readFLV(t, mediaFile(t, "av")))
	src := newSource(msgs)
	src.block = true
	return msgs, src
}

func (s *fakeSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	if s.wait != nil {
		s.wait()
	}
	if s.i >= len(s.msgs) {
		if s.block {
			close(s.drained)
			<-s.closed
			return dst, errors.New("closed")
		}
		return dst, io.EOF
	}
	end := min(s.i+s.batch, len(s.msgs))
	for ; s.i < end; s.i++ {
		m := s.msgs[s.i]
		if s.clock != nil && m.Kind.IsMedia() {
			s.clock.Store(int64(m.Timestamp))
		}
		dst = append(dst, m)
	}
	return dst, nil
}

func (s *fakeSource) Close() { s.once.Do(func() { close(s.closed) }) }

// checkReleased fails if any message still holds a reference.
func checkReleased(t testing.TB, msgs []*remux.Message) {
	t.Helper()
	for i, m := range msgs {
		if m.Refs() != 0 {
			t.Fatalf("message %d (%v ts %d) has %d references left", i, m.Kind, m.Timestamp, m.Refs())
		}
	}
}

// recordN records msgs as record does, checks that every message was
// released and fails the test unless they made n segments: what most tests
// establish before they look into the segments.
func recordN(t testing.TB, msgs []*remux.Message, cfg Config, n int) []Segment {
	t.Helper()
	segs, _ := record(t, msgs, cfg)
	checkReleased(t, msgs)
	if len(segs) != n {
		t.Fatalf("%d segments, want %d: %+v", len(segs), n, segs)
	}
	return segs
}

// record runs Record over msgs and returns the segments reported done, in
// the order they were opened.
func record(t testing.TB, msgs []*remux.Message, cfg Config) ([]Segment, error) {
	t.Helper()
	var mu sync.Mutex
	var segs []Segment
	user := cfg.OnSegmentDone
	cfg.OnSegmentDone = func(s Segment) {
		if user != nil {
			user(s)
		}
		mu.Lock()
		segs = append(segs, s)
		mu.Unlock()
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	if cfg.Clock == nil {
		cfg.Clock = fixedClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	err := Record(context.Background(), newSource(msgs), "live", "cam1", cfg)
	// Every opened segment is reported exactly once, from a goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(segs)
		mu.Unlock()
		if int64(n) == cfg.Stats.Segments.Load() || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	out := append([]Segment(nil), segs...)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return segNum(out[i].Path) < segNum(out[j].Path)
	})
	return out, err
}

// segNum is the uniqueness suffix of a segment path (0 for none).
func segNum(p string) int {
	n, _ := ParseSegmentName(p)
	return n.Seq
}

// ---- ffprobe ----

type probePacket struct {
	StreamIndex int    `json:"stream_index"`
	PTS         string `json:"pts_time"`
	DTS         string `json:"dts_time"`
	Flags       string `json:"flags"`
}

type probeStream struct {
	Index     int    `json:"index"`
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

type probeResult struct {
	Streams []probeStream `json:"streams"`
	Packets []probePacket `json:"packets"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t testing.TB, path string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=index,codec_type,codec_name,width,height:packet=stream_index,pts_time,dts_time,flags:format=duration",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return r
}

// decodeErrors decodes path fully and returns what ffmpeg printed at -v error.
func decodeErrors(t testing.TB, path string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%v: %s", err, stderr.String())
	}
	return stderr.String()
}

// counts returns packets per codec type.
func (r probeResult) counts() map[string]int {
	types := map[int]string{}
	for _, s := range r.Streams {
		types[s.Index] = s.CodecType
	}
	c := map[string]int{}
	for _, p := range r.Packets {
		c[types[p.StreamIndex]]++
	}
	return c
}

func (r probeResult) streamType(i int) string {
	for _, s := range r.Streams {
		if s.Index == i {
			return s.CodecType
		}
	}
	return ""
}

func parseF(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return f
}

func (r probeResult) duration() float64 { return parseF(r.Format.Duration) }

// checkSegment verifies one segment: the wanted stream types, a keyframe
// first, monotonic DTS per stream, and a clean decode.
func checkSegment(t *testing.T, path string, want ...string) probeResult {
	t.Helper()
	r := ffprobe(t, path)
	have := map[string]bool{}
	for _, s := range r.Streams {
		have[s.CodecType] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: no %s stream (streams %+v)", path, w, r.Streams)
		}
	}
	firstVideo := true
	last := map[int]float64{}
	for _, p := range r.Packets {
		if r.streamType(p.StreamIndex) == "video" && firstVideo {
			firstVideo = false
			if !strings.Contains(p.Flags, "K") {
				t.Errorf("%s: first video packet is not a keyframe (flags %q)", path, p.Flags)
			}
		}
		d := parseF(p.DTS)
		if l, ok := last[p.StreamIndex]; ok && d < l {
			t.Errorf("%s: stream %d DTS goes back %v -> %v", path, p.StreamIndex, l, d)
		}
		last[p.StreamIndex] = d
	}
	if e := decodeErrors(t, path); e != "" {
		t.Errorf("%s: decode errors:\n%s", path, e)
	}
	return r
}

// within reports whether got is within frac of want.
func within(got, want int, frac float64) bool {
	d := float64(got - want)
	if d < 0 {
		d = -d
	}
	return d <= frac*float64(want)
}

func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

// testLogger logs through t.Log, so output shows only for failing tests or -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
