//go:build unix

package recorder

// Soak and throughput measurements of the recording path (issue 4, "Must
// show" 5 and 6). Both replay 10 s of real H.264/AAC, encoded once by
// ffmpeg, as pooled hub-like messages with timestamps that keep growing
// (loopSource in bench_test.go), as fast as Record takes them.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// soakTags encodes 10 s of 1280x720 25 fps H.264 (2 s GOP, ~3 Mbit/s) with
// 48 kHz stereo AAC, a typical camera or OBS stream, into dir and returns
// its tags.
func soakTags(tb testing.TB, dir string) []tagSpec {
	tb.Helper()
	needTools(tb)
	out := filepath.Join(dir, "soak.flv")
	args := []string{"-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "10",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p",
		"-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2",
		"-f", "flv", out}
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return readFLV(tb, out)
}

// soakLoop describes one pass over the test media as loopSource plays it.
type soakLoop struct {
	media  []tagSpec // media frames, in loopSource order
	bytes  int64     // their payload bytes
	spanMs int64     // timestamp advance per pass
}

func newSoakLoop(tags []tagSpec) soakLoop {
	src := newLoopSource(tags, 0)
	l := soakLoop{media: src.tags, spanMs: int64(src.span)}
	for _, tg := range src.tags {
		l.bytes += int64(len(tg.body))
	}
	return l
}

// bytesOf returns the payload bytes of the first n media messages played.
func (l soakLoop) bytesOf(n int) int64 {
	full := int64(n / len(l.media))
	b := full * l.bytes
	for _, tg := range l.media[:n%len(l.media)] {
		b += int64(len(tg.body))
	}
	return b
}

// mediaOf returns the media time covered by the first n messages.
func (l soakLoop) mediaOf(n int) time.Duration {
	return time.Duration(float64(n)/float64(len(l.media))*float64(l.spanMs)) * time.Millisecond
}

// memSample is the process's memory at one point of the soak.
type memSample struct {
	media     time.Duration // media recorded when sampled
	heapInuse uint64
	sys       uint64 // high-water mark: never decreases
	retained  uint64 // Sys - HeapReleased: obtained from the OS and still held
	rss       uint64 // VmRSS, 0 where /proc is not available
}

func (m memSample) String() string {
	return fmt.Sprintf("at %v of media: HeapInuse %.1f MiB, Sys %.1f MiB (retained %.1f MiB), RSS %.1f MiB",
		m.media, mib(m.heapInuse), mib(m.sys), mib(m.retained), mib(m.rss))
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// sampleMem collects garbage and returns free memory to the OS
// (debug.FreeOSMemory), then reads the counters.
func sampleMem(media time.Duration) memSample {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{media: media, heapInuse: ms.HeapInuse, sys: ms.Sys, retained: ms.Sys - ms.HeapReleased, rss: readRSS()}
}

// readRSS returns the resident set size from /proc/self/status (Linux).
func readRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// soakSource samples memory once after firstAt of media, and again when
// the last message has been handed out (the recorder still has its
// segment open then, as at the first sample).
type soakSource struct {
	*loopSource
	firstAt     int64 // ms
	base        int64 // first media timestamp
	haveBase    bool
	first, last memSample
	tookFirst   bool
	mediaMs     atomic.Int64
	every       int64       // ms between intermediate samples, logged
	series      []memSample // first, every `every`, last
}

func (s *soakSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	n0 := len(dst)
	dst, err := s.loopSource.Next(dst)
	for _, m := range dst[n0:] {
		if !m.Kind.IsMedia() {
			continue
		}
		if !s.haveBase {
			s.haveBase, s.base = true, int64(m.Timestamp)
		}
		s.mediaMs.Store(int64(m.Timestamp) - s.base)
	}
	media := time.Duration(s.mediaMs.Load()) * time.Millisecond
	if !s.tookFirst && s.mediaMs.Load() >= s.firstAt {
		s.tookFirst = true
		s.first = sampleMem(media)
		s.series = append(s.series, s.first)
	} else if s.tookFirst && s.every > 0 && s.mediaMs.Load() >= int64(s.series[len(s.series)-1].media/time.Millisecond)+s.every {
		s.series = append(s.series, sampleMem(media))
	}
	if err != nil {
		s.last = sampleMem(media)
		s.series = append(s.series, s.last)
	}
	return dst, err
}

// TestRecordSoak records three hours of media, faster than real time, in
// 10-minute segments, for fmp4 and for mp4 (whose moov-first rewrite keeps
// the open segment's sample tables), and checks that memory stays flat:
// at the end, the live heap (HeapInuse), the memory held from the OS
// (Sys - HeapReleased) and the resident set are within 10% (plus a little
// GC noise) of what they were after the first minutes, sampled at 22
// minutes of media, once two segments were closed. Each sample collects
// garbage and returns free memory to the OS first. Sys itself is logged
// but not compared: it is a high-water mark that never comes down, and
// one transient peak (the mp4 rewrite's tables, bounded by the segment,
// landing a few MiB higher or lower depending on where a GC cycle falls)
// raises it for good without any growth in use. Memory is logged every 30
// minutes of media. Finished segments are deleted as they close, as
// retention would.
func TestRecordSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: several hours of media; skipped with -short")
	}
	tags := soakTags(t, t.TempDir())
	loop := newSoakLoop(tags)
	const hours = 3
	total := time.Duration(hours) * time.Hour
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			n := int(int64(total/time.Millisecond)/loop.spanMs+1) * len(loop.media)
			src := &soakSource{loopSource: newLoopSource(tags, n), firstAt: (22 * time.Minute).Milliseconds(),
				every: (30 * time.Minute).Milliseconds()}
			stats := new(Stats)
			var segs, removeErrs atomic.Int64
			var maxSeg atomic.Int64
			dir := t.TempDir()
			start := time.Now()
			err := Record(context.Background(), src, "live", "soak", Config{
				Dir: dir, Format: format, SegmentDuration: 10 * time.Minute, Stats: stats,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				OnSegmentDone: func(s Segment) {
					segs.Add(1)
					if s.Bytes > maxSeg.Load() {
						maxSeg.Store(s.Bytes)
					}
					if s.Err != nil {
						t.Errorf("segment %s: %v", s.Path, s.Err)
					}
					if err := os.Remove(s.Path); err != nil {
						removeErrs.Add(1)
					}
				},
			})
			wall := time.Since(start)
			if err != io.EOF {
				t.Fatalf("Record: %v", err)
			}
			media := loop.mediaOf(n)
			st := stats.Snapshot()
			t.Logf("%s: %v of media (%d messages, %.2f GB) in %v: %.2f media-hours per wall second (%.0fx real time); %d segments (largest %.1f MB)",
				format, media.Round(time.Second), n, float64(loop.bytesOf(n))/1e9, wall.Round(time.Millisecond),
				media.Hours()/wall.Seconds(), media.Seconds()/wall.Seconds(), segs.Load(), float64(maxSeg.Load())/1e6)
			for _, m := range src.series {
				t.Logf("memory %v", m)
			}
			if st.WriteErrors != 0 || st.Discontinuities != 0 || removeErrs.Load() != 0 {
				t.Errorf("stats %+v, %d segments not removable", st, removeErrs.Load())
			}
			if want := int64(total / (10 * time.Minute)); segs.Load() < want || segs.Load() > want+1 {
				t.Errorf("%d segments for %v of media in 10-minute segments, want %d or %d", segs.Load(), media, want, want+1)
			}
			if st.Messages < int64(n)*99/100 {
				t.Errorf("%d of %d messages recorded", st.Messages, n)
			}
			if !src.tookFirst || src.last.media < total {
				t.Fatalf("samples not taken: first %v, last %v", src.first, src.last)
			}
			const slack = 2 << 20
			check := func(what string, first, last uint64, slack uint64) {
				if limit := first + first/10 + slack; last > limit {
					t.Errorf("%s grew from %.1f MiB after %v of media to %.1f MiB after %v (limit %.1f MiB: +10%% + %.0f MiB)",
						what, mib(first), src.first.media, mib(last), src.last.media, mib(limit), mib(slack))
				}
			}
			check("HeapInuse", src.first.heapInuse, src.last.heapInuse, slack)
			check("Sys - HeapReleased", src.first.retained, src.last.retained, slack)
			if src.first.rss > 0 {
				check("RSS", src.first.rss, src.last.rss, 2*slack)
			}
		})
	}
}

// BenchmarkRecordThroughput records the 720p test stream (≈3.1 Mbit/s)
// in each format with the default settings (10-minute segments, 1 s fMP4
// fragments fsynced as written, fsync every 2 s for FLV). One op is one
// media message; MB/s is media payload recorded per second, allocs/op the
// allocations per message, cpu-ms/recorded-Mbit the CPU time (user+system,
// whole process) per megabit of media recorded — equivalently, the
// thousandths of a core one 1 Mbit/s stream costs — and x-realtime how
// much faster than real time one core records.
func BenchmarkRecordThroughput(b *testing.B) {
	tags := soakTags(b, b.TempDir())
	loop := newSoakLoop(tags)
	for _, format := range []string{FormatFMP4, FormatMP4, FormatFLV} {
		b.Run(format, func(b *testing.B) { benchmarkThroughput(b, tags, loop, format) })
	}
}

func benchmarkThroughput(b *testing.B, tags []tagSpec, loop soakLoop, format string) {
	b.SetBytes(loop.bytes / int64(len(loop.media)))
	b.ReportAllocs()
	stats := new(Stats)
	src := newLoopSource(tags, b.N)
	dir := b.TempDir()
	cfg := Config{
		Dir: dir, Format: format, Stats: stats,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Record waits for these calls before it returns.
		OnSegmentDone: func(s Segment) { os.Remove(s.Path) }, // spare the disk on long runs
	}
	cpu0 := cpuTime(b)
	b.ResetTimer()
	err := Record(context.Background(), src, "live", "bench", cfg)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	wall := b.Elapsed()
	if err != io.EOF {
		b.Fatal(err)
	}
	if s := stats.Snapshot(); s.WriteErrors != 0 || s.Messages < int64(b.N)*9/10 {
		b.Fatalf("stats %+v for %d messages", s, b.N)
	}
	mbit := float64(loop.bytesOf(b.N)) * 8 / 1e6
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/mbit, "cpu-ms/recorded-Mbit")
	b.ReportMetric(loop.mediaOf(b.N).Seconds()/wall.Seconds(), "x-realtime")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
