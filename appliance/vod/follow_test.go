package vod

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
)

// Tests of following a segment while the recorder writes it: real segment
// bytes come from the recorder package, fed with an ffmpeg-made clip.

// followTClip returns the media messages of an ffmpeg-made 8 s FLV clip
// (H.264 GOP 25 at 25 fps, AAC), sequence headers first.
func followTClip(t *testing.T) []*remux.Message {
	t.Helper()
	p := vodTMedia(t, t.TempDir(), "clip.flv")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rd, err := remux.OpenFLV(f, fi.Size(), remux.NewPool())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	msgs := rd.Headers()
	for {
		m, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	t.Cleanup(func() {
		for _, m := range msgs {
			m.Release()
		}
	})
	return msgs
}

// followTSource hands the clip to the recorder as a publisher would, speed
// times faster than real time (0: as fast as it takes it), then ends.
type followTSource struct {
	msgs  []*remux.Message
	i     int
	speed float64
	start time.Time
}

func (s *followTSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	if s.i >= len(s.msgs) {
		return dst, io.EOF
	}
	if s.start.IsZero() {
		s.start = time.Now()
	}
	due := func(m *remux.Message) time.Time {
		if s.speed == 0 {
			return s.start
		}
		return s.start.Add(time.Duration(float64(m.Timestamp) / s.speed * float64(time.Millisecond)))
	}
	time.Sleep(time.Until(due(s.msgs[s.i])))
	for s.i < len(s.msgs) && !due(s.msgs[s.i]).After(time.Now()) && len(dst) < 64 {
		dst = append(dst, s.msgs[s.i].Retain())
		s.i++
	}
	return dst, nil
}

// followTRec is a recording in progress: the segments it opened, in order,
// which are still open, and when each was reported done.
type followTRec struct {
	open   recorder.OpenSegments
	opened chan string
	mu     sync.Mutex
	done   map[string]time.Time
	errc   chan error
}

// followTRecord records the clip into dir in format, at speed.
func followTRecord(t *testing.T, clip []*remux.Message, dir, format string, speed float64, segment time.Duration) *followTRec {
	t.Helper()
	r := &followTRec{opened: make(chan string, 64), done: map[string]time.Time{}, errc: make(chan error, 1)}
	cfg := recorder.Config{
		Dir:             dir,
		Format:          format,
		SegmentDuration: segment,
		Fragment:        500 * time.Millisecond,
		SyncEvery:       50 * time.Millisecond, // FLV: the file grows in small steps
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSegmentOpen: func(p string) {
			r.open.Opened(p)
			r.opened <- p
		},
		OnSegmentDone: func(s recorder.Segment) {
			r.mu.Lock()
			r.done[s.Path] = time.Now()
			r.mu.Unlock()
			r.open.Done(s.Path)
		},
	}
	go func() {
		r.errc <- recorder.Record(context.Background(), &followTSource{msgs: clip, speed: speed}, "live", "cam1", cfg)
	}()
	return r
}

// wait returns once the recording ended, failing the test after timeout.
func (r *followTRec) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.errc:
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("recorder: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("recorder did not end")
	}
}

func (r *followTRec) doneAt(p string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.done[p]
	return at, ok
}

// followTMsg is one delivered message: what identifies it, and when.
type followTMsg struct {
	kind remux.Kind
	ts   uint32
	size int
	sum  uint32
	seq  bool // a sequence header
	at   time.Time
}

func (m followTMsg) String() string {
	return fmt.Sprintf("%v@%d(%dB %08x)", m.kind, m.ts, m.size, m.sum)
}

// followTPlay runs s to its Play.Complete; it fails on an error or when
// the play does not end within timeout.
func followTPlay(t *testing.T, s *Session, timeout time.Duration) []followTMsg {
	t.Helper()
	msgs, _ := followTPlayEnd(t, s, timeout)
	return msgs
}

// followTPlayEnd is followTPlay that also says when Play.Complete came.
func followTPlayEnd(t *testing.T, s *Session, timeout time.Duration) ([]followTMsg, time.Time) {
	t.Helper()
	type result struct {
		msgs []followTMsg
		end  time.Time
		err  error
	}
	res := make(chan result, 1)
	go func() {
		var out []followTMsg
		for {
			msgs, err := s.Next(nil)
			if err != nil {
				res <- result{out, time.Time{}, err}
				return
			}
			now := time.Now()
			end := false
			for _, m := range msgs {
				end = end || m.Kind == remux.KindPlayComplete
				if m.Kind.IsMedia() {
					out = append(out, followTMsg{m.Kind, m.Timestamp, len(m.Payload), crc32.ChecksumIEEE(m.Payload), m.IsSequenceHeader(), now})
				}
				m.Release()
			}
			if end {
				res <- result{out, now, nil}
				return
			}
		}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("Next failed after %d messages: %v", len(r.msgs), r.err)
		}
		return r.msgs, r.end
	case <-time.After(timeout):
		s.Close()
		r := <-res
		t.Fatalf("play did not complete within %v (%d media messages so far)", timeout, len(r.msgs))
		return nil, time.Time{}
	}
}

// followTFrames is the media of msgs without the sequence headers (which
// a session sends as headers or in line, depending on what was on disk).
func followTFrames(msgs []followTMsg) []followTMsg {
	var out []followTMsg
	for _, m := range msgs {
		if !m.seq {
			out = append(out, m)
		}
	}
	return out
}

// followTCompare checks that got carries every frame of want exactly once,
// in order, with the same timestamps and bytes.
func followTCompare(t *testing.T, got, want []followTMsg) {
	t.Helper()
	g, w := followTFrames(got), followTFrames(want)
	n := min(len(g), len(w))
	for i := 0; i < n; i++ {
		if g[i].kind != w[i].kind || g[i].ts != w[i].ts || g[i].sum != w[i].sum || g[i].size != w[i].size {
			t.Fatalf("frame %d: followed %v, the closed file has %v (around: %v / %v)", i, g[i], w[i], g[max(i-2, 0):min(i+3, len(g))], w[max(i-2, 0):min(i+3, len(w))])
		}
	}
	if len(g) != len(w) {
		t.Fatalf("followed play delivered %d frames, the closed file has %d", len(g), len(w))
	}
}

// followTMonotonic checks the timestamps of each kind never go back (video
// strictly increasing: no B-frames in the clip, so no frame twice) and
// that video starts with its sequence header and a keyframe.
func followTMonotonic(t *testing.T, msgs []followTMsg) {
	t.Helper()
	last := map[remux.Kind]int64{remux.KindAudio: -1, remux.KindVideo: -1}
	for i, m := range msgs {
		if m.seq {
			continue
		}
		if int64(m.ts) < last[m.kind] || (m.kind == remux.KindVideo && int64(m.ts) == last[m.kind]) {
			t.Fatalf("message %d: %v after %d: timestamps go back", i, m, last[m.kind])
		}
		last[m.kind] = int64(m.ts)
	}
	for _, m := range msgs {
		if m.kind == remux.KindVideo {
			if !m.seq {
				t.Fatalf("the first video message is %v, not the sequence header", m)
			}
			break
		}
	}
}

// fullPlay plays a closed file as today (nothing open), as fast as it goes.
func followTFull(t *testing.T, p string) []followTMsg {
	t.Helper()
	s, err := Open(Target{Path: p, Rel: filepath.Base(p)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.unpaced = true
	return followTPlay(t, s, 20*time.Second)
}

// A segment played while the recorder writes it (4x real time) is followed
// to its end: every frame once, in order, timestamps monotonic, and the
// play completes only after the recorder closed the file. For "mp4" the
// file is fMP4 while recorded and rewritten moov-first at the close; the
// session reads the fragmented original to its end.
func TestFollowRecordingSegment(t *testing.T) {
	clip := followTClip(t)
	for _, format := range []string{recorder.FormatFLV, recorder.FormatFMP4, recorder.FormatMP4} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			rec := followTRecord(t, clip, dir, format, 4, time.Hour)
			var p string
			select {
			case p = <-rec.opened:
			case <-time.After(10 * time.Second):
				t.Fatal("no segment opened")
			}
			// Opened right away: the file may not even have its header.
			s, err := Open(Target{Path: p, Rel: filepath.Base(p)}, Options{Open: rec.open.InUse})
			if err != nil {
				t.Fatalf("Open of the segment being recorded: %v", err)
			}
			defer s.Close()
			s.unpaced = true // at the live edge all the time
			s.poll = 20 * time.Millisecond
			got, end := followTPlayEnd(t, s, 20*time.Second)
			rec.wait(t, 5*time.Second)
			closedAt, ok := rec.doneAt(p)
			if !ok {
				t.Fatal("segment not reported done")
			}
			if end.Before(closedAt) {
				t.Errorf("play completed %v before the recorder closed the segment", closedAt.Sub(end))
			}
			before := 0
			for _, m := range got {
				if m.at.Before(closedAt) {
					before++
				}
			}
			// The clip takes 2 s to record; the session must have
			// delivered most of it meanwhile, not after the close.
			if before < len(got)/2 {
				t.Errorf("only %d of %d messages delivered while the segment was being recorded", before, len(got))
			}
			followTMonotonic(t, got)
			if format == recorder.FormatMP4 {
				// The rewrite shifts timestamps by the edit list; the
				// frames, their order and their bytes are the same.
				g, w := followTFrames(got), followTFrames(followTFull(t, p))
				if len(g) != len(w) {
					t.Fatalf("followed %d frames, the closed file has %d", len(g), len(w))
				}
				for i := range g {
					if g[i].sum != w[i].sum {
						t.Fatalf("frame %d differs: %v / %v", i, g[i], w[i])
					}
				}
			} else {
				followTCompare(t, got, followTFull(t, p))
			}
			v := 0
			for _, m := range followTFrames(got) {
				if m.kind == remux.KindVideo {
					v++
				}
			}
			if v < 190 { // the clip has 200; the recorder starts at its first keyframe
				t.Errorf("%d video frames followed, want about 200", v)
			}
			t.Logf("%s: %d messages, %d while recording, %d video frames", format, len(got), before, v)
		})
	}
}

// followTCopy writes src into dst in random pieces (1 B to 4 KB), so the
// reader sees the end of the file in the middle of tag headers, tag bodies,
// box headers, moofs and mdats; open is true until the last byte is there.
func followTCopy(t *testing.T, src, dst string, open *atomic.Bool, seed int64) chan error {
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	open.Store(true)
	errc := make(chan error, 1)
	go func() {
		rnd := rand.New(rand.NewSource(seed))
		defer func() {
			f.Close()
			open.Store(false)
		}()
		for off := 0; off < len(data); {
			n := min(1+rnd.Intn(4096), len(data)-off)
			if _, err := f.Write(data[off : off+n]); err != nil {
				errc <- err
				return
			}
			off += n
			if rnd.Intn(4) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		errc <- nil
	}()
	return errc
}

// Half-written tails: a file that grows by random pieces is followed
// without an error and without a frame cut short, duplicated or lost.
func TestFollowHalfWrittenTail(t *testing.T) {
	clip := followTClip(t)
	for _, format := range []string{recorder.FormatFLV, recorder.FormatFMP4} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			rec := followTRecord(t, clip, dir, format, 0, time.Hour)
			rec.wait(t, 10*time.Second)
			src := <-rec.opened
			want := followTFull(t, src)
			for seed := int64(1); seed <= 3; seed++ {
				dst := filepath.Join(dir, fmt.Sprintf("copy-%d%s", seed, filepath.Ext(src)))
				var open atomic.Bool
				copied := followTCopy(t, src, dst, &open, seed)
				s, err := Open(Target{Path: dst, Rel: filepath.Base(dst)}, Options{Open: func(p string) bool {
					return p == dst && open.Load()
				}})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.unpaced = true
				s.poll = 2 * time.Millisecond
				got := followTPlay(t, s, 20*time.Second)
				s.Close()
				if err := <-copied; err != nil {
					t.Fatal(err)
				}
				followTMonotonic(t, got)
				followTCompare(t, got, want)
			}
		})
	}
}

// A stream directory played while it is recorded in 2 s segments (at 8x
// real time): the timeline takes in the segments the recorder starts
// during the play and follows each to its end; timestamps run on across
// the cuts.
func TestFollowTimeline(t *testing.T) {
	clip := followTClip(t)
	for _, format := range []string{recorder.FormatFLV, recorder.FormatFMP4} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			rec := followTRecord(t, clip, dir, format, 8, 2*time.Second)
			var first string
			select {
			case first = <-rec.opened:
			case <-time.After(10 * time.Second):
				t.Fatal("no segment opened")
			}
			streamDir := filepath.Dir(first)
			// Wait for a frame on disk (Open of a directory whose only
			// segment has nothing yet is tested elsewhere).
			time.Sleep(300 * time.Millisecond)
			s, err := Open(Target{Path: streamDir, Rel: "live/cam1", Dir: true}, Options{Open: rec.open.InUse})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			s.unpaced = true
			s.poll = 20 * time.Millisecond
			got := followTPlay(t, s, 20*time.Second)
			rec.wait(t, 5*time.Second)
			segs, _ := listSegments(streamDir)
			if len(segs) < 3 {
				t.Fatalf("%d segments recorded, want at least 3 (2 s each of 8 s)", len(segs))
			}
			followTMonotonic(t, got)
			// Every frame of every segment, in order (each segment's
			// timestamps moved by the timeline offset).
			var want []followTMsg
			for _, p := range segs {
				want = append(want, followTFrames(followTFull(t, p))...)
			}
			g := followTFrames(got)
			if len(g) != len(want) {
				t.Fatalf("timeline delivered %d frames, the %d segments have %d", len(g), len(segs), len(want))
			}
			for i := range g {
				if g[i].sum != want[i].sum || g[i].kind != want[i].kind {
					t.Fatalf("frame %d: %v, want %v", i, g[i], want[i])
				}
			}
			t.Logf("%s: %d segments, %d frames", format, len(segs), len(g))
		})
	}
}

// Open of a stream directory whose only segment was just created (nothing
// playable on disk yet) succeeds and waits for its first frames; a file
// that is not being recorded and cannot be read still fails at once.
func TestFollowNothingYet(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "2024-01-02_03-04-05.mp4")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var open atomic.Bool
	open.Store(true)
	s, err := Open(Target{Path: dir, Rel: "live/cam1", Dir: true}, Options{Open: func(q string) bool { return q == p && open.Load() }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.poll = 10 * time.Millisecond
	s.grace = 10 * time.Millisecond
	res := make(chan error, 1)
	go func() {
		_, err := s.Next(nil)
		res <- err
	}()
	select {
	case err := <-res:
		t.Fatalf("Next returned (%v) while the segment has nothing", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The recorder gives up on it (header write failed: file removed).
	os.Remove(p)
	open.Store(false)
	select {
	case err := <-res:
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Next: %v, want the open error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waiting after the segment was dropped")
	}
	s.Close()

	if _, err := Open(Target{Path: p + ".x.mp4", Rel: "x.mp4"}, Options{Open: func(string) bool { return false }}); err == nil {
		t.Error("Open of a missing file that is not being recorded succeeded")
	}
}
