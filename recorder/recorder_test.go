package recorder

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// inputCounts probes the ffmpeg-made input once per call.
func inputCounts(t *testing.T, path string) map[string]int {
	return ffprobe(t, path).counts()
}

func testSegments(t *testing.T, format string) []Segment {
	in := mediaFile(t, "av")
	want := inputCounts(t, in)
	msgs := messages(readFLV(t, in))
	dir := t.TempDir()
	stats := new(Stats)
	segs, err := record(t, msgs, Config{Dir: dir, Format: format, SegmentDuration: 2 * time.Second, Stats: stats})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Record returned %v, want the source's io.EOF", err)
	}
	checkReleased(t, msgs)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want >= 3 for 6 s cut every 2 s: %+v", len(segs), segs)
	}
	got := map[string]int{}
	var total float64
	for i, s := range segs {
		if s.Err != nil {
			t.Errorf("segment %s: %v", s.Path, s.Err)
		}
		if s.Format != format || s.App != "live" || s.Stream != "cam1" {
			t.Errorf("segment %d: %+v", i, s)
		}
		if fi, err := os.Stat(s.Path); err != nil {
			t.Errorf("segment %s: %v", s.Path, err)
		} else if fi.Size() != s.Bytes {
			t.Errorf("segment %s: size %d, reported %d", s.Path, fi.Size(), s.Bytes)
		}
		r := checkSegment(t, s.Path, "video", "audio")
		for k, v := range r.counts() {
			got[k] += v
		}
		d := r.duration()
		total += d
		if i < len(segs)-1 && math.Abs(d-2) > 0.15 {
			t.Errorf("segment %s lasts %.3f s, want ~2 s", s.Path, d)
		}
		if math.Abs(s.Duration.Seconds()-d) > 0.1 {
			t.Errorf("segment %s: reported duration %v, ffprobe %.3f s", s.Path, s.Duration, d)
		}
		t.Logf("%s: %.3f s, %d bytes, packets %v", filepath.Base(s.Path), d, s.Bytes, r.counts())
	}
	for _, k := range []string{"video", "audio"} {
		if !within(got[k], want[k], 0.02) {
			t.Errorf("%s packets: got %d over all segments, input has %d", k, got[k], want[k])
		}
	}
	if math.Abs(total-6) > 0.3 {
		t.Errorf("segments last %.3f s in total, want ~6", total)
	}
	// Same wall-clock second for every segment: names made unique.
	ext := formatExt(format)
	base := filepath.Join(dir, "live", "cam1", "2025-03-04_05-06-07")
	for i, s := range segs {
		want := base + ext
		if i > 0 {
			want = base + "-" + string(rune('0'+i)) + ext
		}
		if s.Path != want {
			t.Errorf("segment %d path %s, want %s", i, s.Path, want)
		}
	}
	snap := stats.Snapshot()
	if snap.WriteErrors != 0 || snap.Discontinuities != 0 || snap.Segments != int64(len(segs)) {
		t.Errorf("stats %+v", snap)
	}
	return segs
}

func TestRecordFMP4(t *testing.T) {
	t.Parallel()
	testSegments(t, FormatFMP4)
}

func TestRecordMP4Progressive(t *testing.T) {
	t.Parallel()
	segs := testSegments(t, FormatMP4)
	for _, s := range segs {
		b, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for p := 0; p+8 <= len(b); {
			size := int(binary.BigEndian.Uint32(b[p:]))
			order = append(order, string(b[p+4:p+8]))
			if size < 8 {
				break
			}
			p += size
		}
		if strings.Join(order, ",") != "ftyp,moov,mdat" {
			t.Errorf("%s: top-level boxes %v, want ftyp,moov,mdat", s.Path, order)
		}
	}
}

func TestRecordFLV(t *testing.T) {
	t.Parallel()
	segs := testSegments(t, FormatFLV)
	for _, s := range segs {
		tags := readFLV(t, s.Path)
		if len(tags) == 0 || tags[0].kind != remux.KindData {
			t.Fatalf("%s: first tag is not script data", s.Path)
		}
		meta := map[string]float64{}
		for _, p := range parseMetadata(tags[0].body) {
			meta[p.key] = p.num
		}
		if meta["duration"] < 1 {
			t.Errorf("%s: onMetaData duration %v", s.Path, meta["duration"])
		}
		// Legacy headers: the FLV codec ids (7 AVC, 10 AAC).
		if meta["videocodecid"] != 7 || meta["audiocodecid"] != 10 {
			t.Errorf("%s: onMetaData videocodecid %v audiocodecid %v, want 7 and 10", s.Path, meta["videocodecid"], meta["audiocodecid"])
		}
		times, pos := flvKeyframes(t, tags[0].body)
		if len(times) == 0 || len(times) != len(pos) {
			t.Fatalf("%s: keyframes index times %v filepositions %v", s.Path, times, pos)
		}
		byPos := map[int64]tagSpec{}
		for _, tg := range tags {
			byPos[tg.pos] = tg
		}
		for i, p := range pos {
			tg, ok := byPos[int64(p)]
			if !ok || tg.kind != remux.KindVideo || tg.body[0]>>4 != 1 || tg.body[1] != 1 {
				t.Errorf("%s: keyframe %d at %v is not a video keyframe tag", s.Path, i, p)
				continue
			}
			if math.Abs(float64(tg.ts)/1000-times[i]) > 0.001 {
				t.Errorf("%s: keyframe %d time %v, tag says %d ms", s.Path, i, times[i], tg.ts)
			}
		}
		if tags[0].ts != 0 || tags[1].ts != 0 {
			t.Errorf("%s: headers not at 0", s.Path)
		}
	}
}

// flvKeyframes extracts keyframes.times and .filepositions from onMetaData.
func flvKeyframes(t *testing.T, body []byte) (times, pos []float64) {
	t.Helper()
	vals, err := amf.Decoder{MaxValues: metaMaxValues}.Decode(body)
	if err != nil || len(vals) < 2 {
		t.Fatalf("onMetaData does not decode: %v", err)
	}
	meta, _ := vals[1].(amf.ECMAArray)
	kv, _ := meta.Get("keyframes")
	kf, ok := kv.(amf.Object)
	if !ok {
		t.Fatal("no keyframes object in onMetaData")
	}
	numbers := func(k string) []float64 {
		v, _ := kf.Get(k)
		arr, ok := v.([]any)
		if !ok {
			t.Fatalf("keyframes.%s is not a strict array", k)
		}
		out := make([]float64, 0, len(arr))
		for _, e := range arr {
			f, ok := e.(float64)
			if !ok {
				t.Fatalf("keyframes.%s holds %T", k, e)
			}
			out = append(out, f)
		}
		return out
	}
	return numbers("times"), numbers("filepositions")
}

// A copy of an fMP4 segment cut in the middle of its last fragment still
// probes and decodes every complete fragment.
func TestTruncatedFMP4(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	msgs := messages(readFLV(t, in))
	dir := t.TempDir()
	segs, _ := record(t, msgs, Config{Dir: dir})
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	full := checkSegment(t, segs[0].Path, "video", "audio")
	b, err := os.ReadFile(segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	var moofs []int
	for p := 0; p+8 <= len(b); p += int(binary.BigEndian.Uint32(b[p:])) {
		if string(b[p+4:p+8]) == "moof" {
			moofs = append(moofs, p)
		}
	}
	if len(moofs) < 5 {
		t.Fatalf("%d fragments for 6 s at 1 s fragments", len(moofs))
	}
	last := moofs[len(moofs)-1]
	cut := last + (len(b)-last)*2/3 // inside the last mdat
	trunc := filepath.Join(dir, "trunc.mp4")
	if err := os.WriteFile(trunc, b[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	// Frames in complete fragments: everything before the last moof.
	head := filepath.Join(dir, "head.mp4")
	if err := os.WriteFile(head, b[:last], 0o644); err != nil {
		t.Fatal(err)
	}
	hr := checkSegment(t, head, "video", "audio")
	tr := ffprobe(t, trunc)
	hc, tc, fc := hr.counts(), tr.counts(), full.counts()
	for _, k := range []string{"video", "audio"} {
		if tc[k] < hc[k] || hc[k] == 0 || hc[k] >= fc[k] {
			t.Errorf("%s packets: truncated %d, complete fragments %d, full %d", k, tc[k], hc[k], fc[k])
		}
	}
	frames := decodedFrames(t, trunc)
	if frames < hc["video"] {
		t.Errorf("truncated file decodes %d video frames, complete fragments hold %d", frames, hc["video"])
	}
}

// decodedFrames counts the video frames ffprobe decodes.
func decodedFrames(t *testing.T, path string) int {
	out, _ := runOut("ffprobe", "-v", "quiet", "-select_streams", "v", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	n := 0
	for _, c := range strings.TrimSpace(out) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Timestamps jumping back mid-stream start a new segment, not an error.
func TestDiscontinuity(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	// From the keyframe at 3 s on, timestamps restart 5 s earlier.
	jump := -1
	for i, tg := range tags {
		if tg.kind == remux.KindVideo && tg.ts >= 3000 && tg.body[0]>>4 == 1 {
			jump = i
			break
		}
	}
	if jump < 0 {
		t.Fatal("no keyframe at 3 s")
	}
	for i := jump; i < len(tags); i++ {
		if tags[i].kind.IsMedia() {
			tags[i].ts = uint32(int64(tags[i].ts) - 5000) // wraps below zero: a 32-bit jump back
		}
	}
	msgs := messages(tags)
	stats := new(Stats)
	segs, err := record(t, msgs, Config{Dir: t.TempDir(), Format: FormatFMP4, Stats: stats})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	checkReleased(t, msgs)
	if stats.Discontinuities.Load() != 1 || len(segs) != 2 {
		t.Fatalf("discontinuities %d, segments %d", stats.Discontinuities.Load(), len(segs))
	}
	var total float64
	for _, s := range segs {
		r := checkSegment(t, s.Path, "video", "audio")
		total += r.duration()
	}
	if math.Abs(total-6) > 0.3 {
		t.Errorf("total %.3f s", total)
	}
}

// A forward jump beyond 10 s also cuts.
func TestForwardJump(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	for i, tg := range tags {
		if tg.kind == remux.KindVideo && tg.ts >= 2000 && tg.body[0]>>4 == 1 {
			for j := i; j < len(tags); j++ {
				if tags[j].kind.IsMedia() {
					tags[j].ts += 60000
				}
			}
			break
		}
	}
	msgs := messages(tags)
	stats := new(Stats)
	segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: FormatFLV, Stats: stats})
	checkReleased(t, msgs)
	if stats.Discontinuities.Load() != 1 || len(segs) != 2 {
		t.Fatalf("discontinuities %d, segments %d", stats.Discontinuities.Load(), len(segs))
	}
	for _, s := range segs {
		if d := checkSegment(t, s.Path, "video", "audio").duration(); d > 4.5 {
			t.Errorf("%s lasts %.3f s", s.Path, d)
		}
	}
}

// A publisher session restart (StreamStart) starts a new segment; StreamEnd
// closes one.
func TestStreamMarkers(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	first := messages(tags)
	second := messages(tags)
	var msgs []*remux.Message
	msgs = append(msgs, first...)
	msgs = append(msgs, remux.NewMessage(remux.KindStreamEnd, 0, nil))
	msgs = append(msgs, remux.NewMessage(remux.KindStreamStart, 0, nil))
	msgs = append(msgs, second...)
	segs := recordN(t, msgs, Config{Dir: t.TempDir()}, 2)
	for _, s := range segs {
		if d := checkSegment(t, s.Path, "video", "audio").duration(); math.Abs(d-6) > 0.2 {
			t.Errorf("%s lasts %.3f s", s.Path, d)
		}
	}
}

// A changed sequence header (new resolution) starts a new segment.
func TestHeaderChange(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	var hdr tagSpec
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && tg.body[1] == 0 {
			hdr = tg
			break
		}
	}
	var out []tagSpec
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && tg.ts >= 3000 && tg.body[0]>>4 == 1 && hdr.ts != 1 {
			// Same SPS/PPS, different record bytes: counts as a change.
			h := hdr
			h.body = append(append([]byte(nil), hdr.body...), 0xFD, 0xF8, 0xF8, 0x00)
			h.ts = tg.ts
			out = append(out, h)
			hdr.ts = 1 // only once
		}
		out = append(out, tg)
	}
	msgs := messages(out)
	segs := recordN(t, msgs, Config{Dir: t.TempDir()}, 2)
	for _, s := range segs {
		checkSegment(t, s.Path, "video", "audio")
	}
}

// Audio-only streams cut on time.
func TestAudioOnly(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatFMP4, FormatFLV} {
		t.Run(format, func(t *testing.T) {
			in := mediaFile(t, "audio")
			want := inputCounts(t, in)["audio"]
			msgs := messages(readFLV(t, in))
			segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: format, SegmentDuration: 2 * time.Second}, 3)
			got := 0
			for _, s := range segs {
				r := checkSegment(t, s.Path, "audio")
				got += r.counts()["audio"]
			}
			if !within(got, want, 0.02) {
				t.Errorf("audio packets %d, input %d", got, want)
			}
		})
	}
}

// Segment size cap: cut at the first keyframe past SegmentMaxBytes.
func TestSegmentMaxBytes(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	msgs := messages(readFLV(t, in))
	segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: FormatFLV, SegmentMaxBytes: 100 << 10})
	checkReleased(t, msgs)
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	for _, s := range segs {
		checkSegment(t, s.Path, "video", "audio")
	}
}

func TestUniqueNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{Dir: dir, Format: FormatFLV}
	cfg.setDefaults()
	now := fixedClock().Now()
	var paths []string
	for range 3 {
		p, f, err := createSegmentFile(&cfg, "live", "../../etc", now)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	base := filepath.Join(dir, "live", ".._.._etc", "2025-03-04_05-06-07")
	want := []string{base + ".flv", base + "-1.flv", base + "-2.flv"}
	for i := range want {
		if paths[i] != want[i] {
			t.Errorf("path %d: %s, want %s", i, paths[i], want[i])
		}
	}
	cfg.PathTemplate = "../{stream}"
	if _, _, err := createSegmentFile(&cfg, "live", "x", now); err == nil {
		t.Error("template escaping the storage dir accepted")
	}
}

// A storage root that cannot hold directories: every create fails, Record
// keeps consuming, counts the errors and releases everything.
func TestWriteErrorDirIsFile(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	msgs := messages(readFLV(t, in))
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	var clock atomic.Int64
	t0 := time.Now()
	stats := new(Stats)
	src := newSource(msgs)
	src.clock = &clock
	err := Record(context.Background(), src, "live", "cam1", Config{
		Dir: notDir, Stats: stats, Logger: testLogger(t),
		Clock: mediaClock(t0, &clock, 1),
	})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	checkReleased(t, msgs)
	s := stats.Snapshot()
	// One try at the start, then one per retry interval (3 s) of media.
	if s.WriteErrors < 2 || s.WriteErrors > 3 || s.Segments != 0 || !s.Paused || s.Dropped == 0 {
		t.Errorf("stats %+v", s)
	}
}

// failFile fails every write after limit bytes.
type failFile struct {
	*os.File
	n, limit int64
}

var errDiskFull = errors.New("no space left on device (injected)")

func (f *failFile) Write(p []byte) (int, error) {
	if f.n+int64(len(p)) > f.limit {
		return 0, errDiskFull
	}
	f.n += int64(len(p))
	return f.File.Write(p)
}

// A write error mid-segment: logged and counted, the segment is reported
// with its error and stays playable, recording resumes with a new segment.
func TestWriteErrorMidSegment(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatFMP4, FormatFLV} {
		t.Run(format, func(t *testing.T) {
			in := mediaFile(t, "av")
			msgs := messages(readFLV(t, in))
			var clock atomic.Int64
			t0 := time.Now()
			stats := new(Stats)
			opened := 0
			cfg := Config{
				Dir: t.TempDir(), Format: format, Stats: stats, Logger: testLogger(t),
				// Wall clock at twice the media rate: the 3 s retry is 1.5 s of media.
				Clock: mediaClock(t0, &clock, 2),
				openFile: func(path string) (file, error) {
					f, err := openFileDefault(path)
					if err != nil {
						return nil, err
					}
					opened++
					if opened == 1 {
						return &failFile{File: f.(*os.File), limit: 150 << 10}, nil
					}
					return f, nil
				},
			}
			var segs []Segment
			done := make(chan Segment, 10)
			cfg.OnSegmentDone = func(s Segment) { done <- s }
			src := newSource(msgs)
			src.clock = &clock
			err := Record(context.Background(), src, "live", "cam1", cfg)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Record: %v", err)
			}
			checkReleased(t, msgs)
			for range stats.Segments.Load() {
				segs = append(segs, <-done)
			}
			s := stats.Snapshot()
			if s.WriteErrors != 1 || s.Segments != 2 || s.Paused {
				t.Fatalf("stats %+v", s)
			}
			if segs[0].Start.After(segs[1].Start) {
				segs[0], segs[1] = segs[1], segs[0]
			}
			if !errors.Is(segs[0].Err, errDiskFull) {
				t.Errorf("first segment error %v", segs[0].Err)
			}
			if r := ffprobe(t, segs[0].Path); r.counts()["video"] < 25 {
				t.Errorf("cut segment %s: packets %v", segs[0].Path, r.counts())
			}
			if segs[1].Err != nil {
				t.Errorf("second segment error %v", segs[1].Err)
			}
			checkSegment(t, segs[1].Path, "video", "audio")
		})
	}
}

// Cancelling the context closes the segment cleanly and closes the source.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	msgs, src := blockingSource(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Segment, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Record(ctx, src, "live", "cam1", Config{Dir: t.TempDir(), Clock: fixedClock(), Logger: testLogger(t),
			OnSegmentDone: func(s Segment) { done <- s }})
	}()
	<-src.drained // everything handed out is processed once Next is called again
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Record: %v", err)
	}
	select {
	case <-src.closed:
	default:
		t.Error("source not closed")
	}
	checkReleased(t, msgs)
	s := <-done
	if d := checkSegment(t, s.Path, "video", "audio").duration(); math.Abs(d-6) > 0.2 {
		t.Errorf("segment lasts %.3f s", d)
	}
}

func TestBadFormat(t *testing.T) {
	t.Parallel()
	if err := Record(context.Background(), newSource(nil), "a", "b", Config{Format: "avi"}); err == nil {
		t.Error("unknown format accepted")
	}
}

// An FLV segment copied while it is being written (what a power cut leaves:
// the placeholder onMetaData, a torn last tag) still probes and decodes.
func TestFLVCrashCopy(t *testing.T) {
	t.Parallel()
	_, src := blockingSource(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		errc <- Record(ctx, src, "live", "cam1", Config{Dir: dir, Format: FormatFLV,
			SyncEvery: 20 * time.Millisecond, Logger: testLogger(t)})
	}()
	<-src.drained
	found, _ := filepath.Glob(filepath.Join(dir, "live", "cam1", "*.flv"))
	if len(found) != 1 {
		t.Fatalf("segments %v", found)
	}
	path := found[0]
	var b []byte
	for stable := 0; stable < 3; { // wait for a scheduled sync to flush the buffer
		time.Sleep(30 * time.Millisecond)
		nb, _ := os.ReadFile(path)
		if len(nb) == len(b) && len(b) > 0 {
			stable++
		} else {
			stable = 0
		}
		b = nb
	}
	cancel()
	<-errc
	crash := filepath.Join(dir, "crash.flv")
	os.WriteFile(crash, b[:len(b)-1000], 0o644) // torn last tag
	tags := readFLV(t, crash)
	if p := parseMetadata(tags[0].body); len(p) == 0 || p[0].key != "duration" || p[0].num != 0 {
		t.Errorf("placeholder metadata %+v", p)
	}
	r := ffprobe(t, crash)
	c := r.counts()
	if c["video"] < 148 || c["audio"] < 255 {
		t.Errorf("crash copy packets %v", c)
	}
	// The torn last frame itself may fail to decode; recovery truncates it.
	if e := decodeErrors(t, crash); e != "" {
		t.Logf("decode of the torn file: %s", e)
	}
	if n := decodedFrames(t, crash); n < 148 {
		t.Errorf("%d frames decoded", n)
	}
}

// A hub joiner gets the cached headers (old timestamps) and then the GOP
// far later on the timeline; a 32-bit timestamp wrap is not a jump.
func TestTimelineJoinAndWrap(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	for _, tc := range []struct {
		name  string
		shift uint32
		from  uint32 // first frame time kept
	}{
		{"join", 100000, 3000},
		{"wrap", 1<<32 - 2000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out []tagSpec
			started := false
			for _, tg := range tags {
				hdr := tg.kind == remux.KindData || (len(tg.body) > 1 && tg.body[1] == 0)
				if hdr {
					out = append(out, tg) // cached headers keep their timestamps
					continue
				}
				if !started && (tg.ts < tc.from || tg.kind != remux.KindVideo || tg.body[0]>>4 != 1) {
					continue
				}
				started = true
				tg.ts += tc.shift
				out = append(out, tg)
			}
			msgs := messages(out)
			stats := new(Stats)
			segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Stats: stats})
			checkReleased(t, msgs)
			if len(segs) != 1 || stats.Discontinuities.Load() != 0 {
				t.Fatalf("%d segments, %d discontinuities", len(segs), stats.Discontinuities.Load())
			}
			want := 6 - float64(tc.from)/1000
			if d := checkSegment(t, segs[0].Path, "video", "audio").duration(); math.Abs(d-want) > 0.15 {
				t.Errorf("lasts %.3f s, want %.3f", d, want)
			}
		})
	}
}

// A camera's audio often comes before its video. When the metadata
// announces video, the recording waits for the first keyframe rather than
// opening an audio-only segment that the video would cut at once; when the
// announced video never comes, it gives up after awaitVideoMs of audio.
func TestAudioBeforeAnnouncedVideo(t *testing.T) {
	t.Parallel()
	tags := readFLV(t, mediaFile(t, "av"))
	if tags[0].kind != remux.KindData {
		t.Fatalf("test input starts with a %v tag, want its onMetaData", tags[0].kind)
	}
	late := func(from uint32) []tagSpec {
		var out []tagSpec
		var hdr tagSpec
		for _, tg := range tags {
			if tg.kind == remux.KindVideo {
				if tg.body[1] == 0 {
					hdr = tg
					continue
				}
				if tg.ts < from {
					continue
				}
				if hdr.body != nil && tg.body[0]>>4 == 1 {
					hdr.ts = tg.ts
					out = append(out, hdr)
					hdr.body = nil
				}
			}
			out = append(out, tg)
		}
		return out
	}
	for _, format := range []string{FormatFLV, FormatFMP4} {
		t.Run(format+"/video 1s late", func(t *testing.T) {
			msgs := messages(late(1000))
			segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: format})
			checkReleased(t, msgs)
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1 (audio first must not open an audio-only one)", len(segs))
			}
			r := checkSegment(t, segs[0].Path, "video", "audio")
			if d := r.duration(); d < 4.5 || d > 5.2 {
				t.Errorf("segment lasts %.3f s, want the 5 s from the first keyframe", d)
			}
		})
		t.Run(format+"/video never", func(t *testing.T) {
			msgs := messages(late(1 << 30))
			segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: format}, 1)
			r := checkSegment(t, segs[0].Path, "audio")
			if d := r.duration(); d < 2.5 || d > 3.2 {
				t.Errorf("audio-only segment lasts %.3f s, want the 3 s after the wait", d)
			}
		})
	}
}

// One track stepping back alone (a camera's audio 2 s back while its video
// goes on, issue 15) does not cut: its frames of time already recorded are
// dropped until it passes it, so one segment holds the stream, no longer
// than the media, with audio times that only grow. Both tracks stepping
// back is still a new timeline (TestDiscontinuity).
func TestTrackStepsBackAlone(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	tags := readFLV(t, in)
	for i := range tags {
		if tags[i].kind == remux.KindAudio && tags[i].ts >= 3000 && tags[i].body[1] == 1 {
			tags[i].ts -= 2000
		}
	}
	msgs := messages(tags)
	stats := new(Stats)
	segs, err := record(t, msgs, Config{Dir: t.TempDir(), Format: FormatFMP4, Stats: stats})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	checkReleased(t, msgs)
	if stats.Discontinuities.Load() != 0 || len(segs) != 1 {
		t.Fatalf("discontinuities %d, segments %d: want 0 and 1", stats.Discontinuities.Load(), len(segs))
	}
	if stats.Dropped.Load() < 80 {
		t.Errorf("dropped %d frames, want the ~2 s of audio already recorded", stats.Dropped.Load())
	}
	r := checkSegment(t, segs[0].Path, "video", "audio")
	if d := r.duration(); math.Abs(d-6) > 0.3 {
		t.Errorf("segment lasts %.3f s, want the 6 s of the stream", d)
	}
	if d := segs[0].Duration.Seconds(); d > 6.3 {
		t.Errorf("segment reported %.3f s, want at most the 6 s of the stream", d)
	}
	audio := -1
	for _, st := range r.Streams {
		if st.CodecType == "audio" {
			audio = st.Index
		}
	}
	last := -1.0
	for _, pk := range r.Packets {
		if pk.StreamIndex != audio {
			continue
		}
		dts, _ := strconv.ParseFloat(pk.DTS, 64)
		if dts <= last {
			t.Errorf("audio DTS %.3f after %.3f", dts, last)
			break
		}
		last = dts
	}
}
