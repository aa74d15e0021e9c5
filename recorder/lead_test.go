package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// leadingStream is the "av" test stream played twice (12 s, a keyframe a
// second) as a starved camera delivers it (issue 15): its video keeps its
// time, its audio arrives ahead of it by a lead growing 0.75 s a second
// from the first keyframe on, then staying at 2 s. With extra, a second
// AAC track (Enhanced RTMP multitrack, id 1) carries the audio again.
type leadingStream struct {
	msgs    []*remux.Message
	arrival []int64 // ms, when each message arrives (the wall clock then)
	video   []int64 // DTS of the recordable frames, in order
	audio   []int64
	audioMs int64 // an audio frame, rounded up
	extra   bool
}

const leadMs = 2000

func newLeadingStream(t *testing.T, extra bool) leadingStream {
	t.Helper()
	tags := readFLV(t, mediaFile(t, "av"))
	type item struct {
		tg      tagSpec
		arrival int64
	}
	var head, media []item
	var span uint32
	for _, tg := range tags {
		switch {
		case tg.kind == remux.KindData || remux.NewMessage(tg.kind, tg.ts, tg.body).IsSequenceHeader():
			if tg.ts == 0 {
				head = append(head, item{tg, -1})
				if extra && tg.kind == remux.KindAudio {
					head = append(head, item{tagSpec{kind: tg.kind, body: multitrackAudio(0, tg.body[2:], 1)}, -1})
				}
			}
		case tg.kind.IsMedia() && len(tg.body) > 1 && tg.body[1] == 1: // AVC NALUs, AAC raw
			media = append(media, item{tg, 0})
			if extra && tg.kind == remux.KindAudio {
				media = append(media, item{tagSpec{kind: tg.kind, ts: tg.ts, body: multitrackAudio(1, tg.body[2:], 1)}, 0})
			}
			span = max(span, tg.ts+40)
		}
	}
	s := leadingStream{extra: extra}
	first := int64(-1)
	var all []item
	for loop := range 2 {
		for _, it := range media {
			it.tg.ts += uint32(loop) * span
			ts := int64(it.tg.ts)
			if it.tg.kind == remux.KindVideo {
				if first < 0 && it.tg.body[0]>>4 == 1 {
					first = ts
				}
				it.arrival = ts
			} else {
				lead := int64(0)
				if first >= 0 {
					lead = min(leadMs, (ts-first)*3/4)
				}
				it.arrival = ts - max(lead, 0)
			}
			all = append(all, it)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].arrival != all[j].arrival {
			return all[i].arrival < all[j].arrival
		}
		return all[i].tg.kind == remux.KindVideo && all[j].tg.kind != remux.KindVideo
	})
	for _, it := range append(head, all...) {
		s.msgs = append(s.msgs, remux.NewMessage(it.tg.kind, it.tg.ts, it.tg.body))
		s.arrival = append(s.arrival, max(it.arrival, 0))
		ts := int64(it.tg.ts)
		switch {
		case it.arrival < 0 || ts < first: // before the first keyframe: not recordable
		case it.tg.kind == remux.KindVideo:
			s.video = append(s.video, ts)
		case it.tg.body[0] == 0xaf: // the default audio track's tags
			s.audio = append(s.audio, ts)
		}
	}
	sort.Slice(s.audio, func(i, j int) bool { return s.audio[i] < s.audio[j] })
	var gaps []int64
	for i := 1; i < len(s.audio); i++ {
		gaps = append(gaps, s.audio[i]-s.audio[i-1])
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	s.audioMs = gaps[len(gaps)/2] + 1 // 1024 samples at 44.1 kHz: 23.2 ms
	return s
}

// arrivalSource hands out one message at a time, the clock set to its
// arrival: a segment's start is the arrival of its first keyframe.
type arrivalSource struct {
	s  leadingStream
	i  int
	ms *atomic.Int64
}

func (a *arrivalSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	if a.i == len(a.s.msgs) {
		return dst, io.EOF
	}
	a.ms.Store(a.s.arrival[a.i])
	a.i++
	return append(dst, a.s.msgs[a.i-1]), nil
}

// A camera whose audio leads its video by 2 s, cut at keyframes: both
// tracks are cut at the keyframe's time. The segments' [start, start +
// duration) do not overlap by more than an audio frame, as the recorder
// reports them (what the recordings index keeps) and as ffprobe reads the
// files; every frame of both tracks is in exactly one segment, at its
// time, in DTS order, each before the next segment's start. Without the
// hold each segment held the 2 s of audio after its cut. A multitrack
// audio track is cut with the others.
func TestLeadingAudioCutAtKeyframe(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		format string
		seg    time.Duration
		segs   int
	}{
		{FormatFMP4, 3 * time.Second, 4},
		{FormatFLV, 3 * time.Second, 4},
		{FormatMP4, time.Second, 12}, // the lead is longer than a segment
		{"multitrack", 3 * time.Second, 4},
	} {
		t.Run(fmt.Sprintf("%s/%v", c.format, c.seg), func(t *testing.T) {
			t.Parallel()
			if c.format == "multitrack" {
				checkLeadingCut(t, newLeadingStream(t, true), FormatFMP4, c.seg, c.segs)
				return
			}
			checkLeadingCut(t, newLeadingStream(t, false), c.format, c.seg, c.segs)
		})
	}
}

func checkLeadingCut(t *testing.T, s leadingStream, format string, segDur time.Duration, want int) {
	base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	var ms atomic.Int64
	var mu sync.Mutex
	var segs []Segment
	stats := new(Stats)
	err := Record(context.Background(), &arrivalSource{s: s, ms: &ms}, "live", "cam1", Config{
		Dir: t.TempDir(), Format: format, SegmentDuration: segDur, Stats: stats,
		Clock: mediaClock(base, &ms, 1), Logger: testLogger(t),
		OnSegmentDone: func(sg Segment) { mu.Lock(); segs = append(segs, sg); mu.Unlock() },
	})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Record: %v", err)
	}
	checkReleased(t, s.msgs)
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	if len(segs) != want {
		t.Fatalf("%d segments, want %d", len(segs), want)
	}
	tol := s.audioMs
	start := func(i int) int64 { return segs[i].Start.Sub(base).Milliseconds() }
	for i, sg := range segs {
		t.Logf("segment %d: start %d ms, duration %v", i, start(i), sg.Duration)
		if i == 0 {
			continue
		}
		end := start(i-1) + segs[i-1].Duration.Milliseconds()
		if d := end - start(i); d > tol || d < -tol {
			t.Errorf("segment %d ends at %d ms, segment %d starts at %d ms: %+d ms, want within an audio frame (%d ms)",
				i-1, end, i, start(i), d, tol)
		}
	}

	// The files, as ffprobe reads them, and as the index reads their
	// duration after a restart.
	got := map[string][]int64{}
	for i, sg := range segs {
		checkSegment(t, sg.Path, "video", "audio")
		next := int64(math.MaxInt64 / 2)
		if i+1 < len(segs) {
			next = start(i + 1)
		}
		var end int64
		for _, p := range probePackets(t, sg.Path) {
			dts := start(i) + p.dts
			if dts < start(i) || dts >= next+1 {
				t.Errorf("%s: %s frame at %d ms, outside the segment's [%d, %d)", sg.Path, p.kind, dts, start(i), next)
			}
			end = max(end, dts+p.dur)
			got[p.kind] = append(got[p.kind], dts)
		}
		if end > next+tol {
			t.Errorf("%s: its frames end at %d ms, %d ms past the next segment's start", sg.Path, end, end-next)
		}
		if d, err := probeDuration(sg.Path, fileSize(t, sg.Path), time.Now().Add(time.Minute)); err != nil {
			t.Errorf("%s: %v", sg.Path, err)
		} else if e := start(i) + d.Milliseconds(); e > next+41 {
			// (remux's readers end a file at its last sample plus 40 ms.)
			t.Errorf("%s: the index reads %v, ending %d ms past the next segment's start", sg.Path, d, e-next)
		}
	}
	sent := map[string][]int64{"video 0": s.video, "audio 1": s.audio}
	if s.extra {
		sent["audio 2"] = s.audio // the multitrack track, a trak of its own
	}
	for kind, in := range sent {
		out := got[kind]
		if len(out) != len(in) {
			t.Errorf("%s: %d frames recorded, %d sent", kind, len(out), len(in))
			continue
		}
		// fMP4 times audio by its sample count: within a frame of the
		// message's time.
		tolKind := int64(1)
		if strings.HasPrefix(kind, "audio") && format != FormatFLV {
			tolKind = tol
		}
		for i := range in {
			if d := out[i] - in[i]; d > tolKind || d < -tolKind || i > 0 && out[i] <= out[i-1] {
				t.Errorf("%s frame %d recorded at %d ms, sent at %d ms (previous %d)", kind, i, out[i], in[i], out[max(i-1, 0)])
				break
			}
		}
	}
	if n := stats.Dropped.Load(); n > 1 {
		t.Errorf("%d frames dropped, want at most the audio frame before the first keyframe", n)
	}
}

// probedPacket is a packet as ffprobe reads it ("audio 1": its stream's
// type and index), times in ms.
type probedPacket struct {
	kind     string
	dts, dur int64
}

// probePackets returns the packets of a file, in file order.
func probePackets(t *testing.T, path string) []probedPacket {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=index,codec_type:packet=stream_index,dts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	ms := func(s string) int64 { return int64(math.Round(max(parseF(s), 0) * 1000)) }
	types := map[string]string{}
	var pks []probedPacket
	for _, l := range strings.Fields(string(out)) {
		f := strings.Split(l, ",")
		switch {
		case len(f) == 2:
			types[f[0]] = f[1]
		case len(f) == 3:
			pks = append(pks, probedPacket{kind: f[0], dts: ms(f[1]), dur: ms(f[2])})
		}
	}
	for i := range pks {
		pks[i].kind = types[pks[i].kind] + " " + pks[i].kind
	}
	return pks
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
