package recorder

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// loopSource replays the media tags of a file from a remux.Pool (as the
// hub's publisher does), timestamps continuing across loops, until n
// messages were handed out.
type loopSource struct {
	pool    *remux.Pool
	head    []tagSpec // metadata and sequence headers, sent once
	tags    []tagSpec // media frames
	n, sent int
	i       int
	offset  uint32
	span    uint32
	started bool
}

func newLoopSource(tags []tagSpec, n int) *loopSource {
	s := &loopSource{pool: remux.NewPool(), n: n}
	for _, tg := range tags {
		m := remux.NewMessage(tg.kind, tg.ts, tg.body)
		if tg.kind == remux.KindData || m.IsSequenceHeader() {
			s.head = append(s.head, tg)
		} else {
			s.tags = append(s.tags, tg)
		}
		s.span = max(s.span, tg.ts+40)
	}
	return s
}

func (s *loopSource) msg(tg tagSpec, ts uint32) *remux.Message {
	m := s.pool.Get(len(tg.body))
	copy(m.Payload, tg.body)
	m.Kind, m.Timestamp = tg.kind, ts
	m.Parse()
	return m
}

func (s *loopSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	if !s.started {
		s.started = true
		for _, tg := range s.head {
			dst = append(dst, s.msg(tg, tg.ts))
		}
	}
	if s.sent >= s.n {
		return dst, io.EOF
	}
	for k := 0; k < 16 && s.sent < s.n; k++ {
		tg := s.tags[s.i]
		dst = append(dst, s.msg(tg, tg.ts+s.offset))
		s.sent++
		if s.i++; s.i == len(s.tags) {
			s.i = 0
			s.offset += s.span
		}
	}
	return dst, nil
}

func benchmarkRecord(b *testing.B, format string) {
	tags := readFLV(b, mediaFile(b, "av"))
	var bytes int
	var media int
	for _, tg := range tags {
		if tg.kind.IsMedia() {
			bytes += len(tg.body)
			media++
		}
	}
	b.SetBytes(int64(bytes / media))
	b.ReportAllocs()
	stats := new(Stats)
	src := newLoopSource(tags, b.N)
	b.ResetTimer()
	err := Record(context.Background(), src, "live", "bench", Config{
		Dir: b.TempDir(), Format: format, Stats: stats,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	b.StopTimer()
	if err != io.EOF {
		b.Fatal(err)
	}
	if s := stats.Snapshot(); s.WriteErrors != 0 || s.Messages < int64(b.N)*9/10 {
		b.Fatalf("stats %+v for %d messages", s, b.N)
	}
}

// BenchmarkRecordFMP4 measures the per-message write path (one op = one
// media message of the H.264+AAC test stream, ~2.4 KB on average), fsync
// per 1 s fragment included.
func BenchmarkRecordFMP4(b *testing.B) { benchmarkRecord(b, FormatFMP4) }

// BenchmarkRecordFLV is the same for FLV (fsync every 2 s of wall time).
func BenchmarkRecordFLV(b *testing.B) { benchmarkRecord(b, FormatFLV) }
