package vod

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Pacing: a session sends media up to lead ahead of real time, where lead
// is the client's buffer (SetBufferLength), capped, plus a margin. rtmpdump
// asks for 10 hours of buffer; that must not pull the whole file at once.
const (
	maxLeadBuffer   = 3 * time.Second
	leadMargin      = 1 * time.Second
	defaultBufferMs = 1000
	maxBatch        = 64
)

// pool recycles the payload buffers of every session.
var pool = remux.NewPool()

var errClosed = errors.New("vod: play closed")

// Options configure a session.
type Options struct {
	Log *slog.Logger
	// Start and Duration are the play command's arguments in ms (Start < 0:
	// from the beginning; Duration <= 0: to the end).
	Start, Duration float64
	// From is where a timeline (a stream directory) starts: an RFC 3339 time
	// or a negative offset from now ("-10m"), from the ?start= query.
	From string
	Now  func() time.Time
}

// segment is one file of a session's timeline.
type segment struct {
	path   string
	start  time.Time // from the file name, zero if it has none
	offset uint32    // timeline ms at the file's time 0
	dur    uint32
	last   uint32 // last timestamp, file time
	size   int64
}

// Session plays one target. It implements rtmp.VODSubscription.
type Session struct {
	log   *slog.Logger
	segs  []segment
	total uint32
	end   uint32 // stop after this timeline ms (play duration), 0 = no limit

	mu     sync.Mutex
	closed bool
	seek   bool
	seekTo uint32
	paused bool
	wake   chan struct{}
	buffer atomic.Uint32

	// Owned by the goroutine calling Next.
	cur        int
	f          *os.File
	rd         remux.FileReader
	q          []*remux.Message // read, not yet due
	started    bool
	startAt    uint32
	done       bool
	clockStart time.Time
	clockBase  uint32
	clockSet   bool
	lastTS     uint32
	wasPaused  bool
	timer      *time.Timer
	// tsBase is subtracted from what goes out. A play with a start
	// argument starts the timestamps at 0: librtmp (rtmpdump --start,
	// --resume) adds its start to every timestamp it receives
	// (nTimeStamp = nResumeTS + packet ts). After a seek they are absolute:
	// RTMP_SendSeek resets nResumeTS to 0, and Flash shows them as is.
	tsBase  uint32
	rebase  bool
	unpaced bool // tests and benchmarks: no real-time pacing
}

// Open prepares the play of t. It opens each segment once to learn its
// duration (a single file: just that one) and fails with an error wrapping
// rtmp.ErrStreamNotFound when nothing is playable.
func Open(t Target, o Options) (*Session, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Session{log: o.Log, wake: make(chan struct{}, 1), cur: -1}
	s.buffer.Store(defaultBufferMs)
	var paths []string
	if t.Dir {
		ents, err := os.ReadDir(t.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", rtmp.ErrStreamNotFound, err)
		}
		for _, e := range ents {
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, ".mp4") || strings.HasSuffix(n, ".flv")) {
				paths = append(paths, filepath.Join(t.Path, n))
			}
		}
		// Names carry the start time; "X-1.mp4" (same second) comes after "X.mp4".
		sort.Slice(paths, func(i, j int) bool {
			return strings.TrimSuffix(paths[i], filepath.Ext(paths[i])) < strings.TrimSuffix(paths[j], filepath.Ext(paths[j]))
		})
	} else {
		paths = []string{t.Path}
	}
	var off uint32
	for _, p := range paths {
		f, rd, size, err := openFile(p)
		if err != nil {
			if !t.Dir {
				return nil, fmt.Errorf("%w: %s: %v", rtmp.ErrStreamNotFound, t.Rel, err)
			}
			o.Log.Warn("vod: segment skipped", "file", p, "err", err)
			continue
		}
		info := rd.Info()
		d := info.Duration
		rd.Close()
		f.Close()
		seg := segment{path: p, offset: off, dur: d, last: info.Last, size: size, start: nameTime(p)}
		s.segs = append(s.segs, seg)
		off += d
	}
	if len(s.segs) == 0 {
		return nil, fmt.Errorf("%w: %s: no recordings", rtmp.ErrStreamNotFound, t.Rel)
	}
	s.total = off
	// Start position: the play's start argument, else ?start= on a timeline.
	if o.Start > 0 {
		s.startAt = uint32(min(o.Start, float64(s.total)))
	} else if t.Dir && o.From != "" {
		at, err := s.fromQuery(o.From, o.Now())
		if err != nil {
			return nil, err
		}
		s.startAt = at
	}
	s.rebase = o.Start > 0
	if o.Duration > 0 {
		s.end = s.startAt + uint32(min(o.Duration, float64(1<<31)))
	}
	return s, nil
}

func openFile(p string) (*os.File, remux.FileReader, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	var rd remux.FileReader
	if strings.HasSuffix(strings.ToLower(p), ".flv") {
		rd, err = remux.OpenFLV(f, fi.Size(), pool)
	} else {
		rd, err = remux.OpenMP4(f, fi.Size(), pool)
	}
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	return f, rd, fi.Size(), nil
}

// nameTime parses the start time out of a segment name made by the
// recorder's default template (YYYY-MM-DD_hh-mm-ss, local time).
func nameTime(p string) time.Time {
	base := filepath.Base(p)
	if len(base) < 19 {
		return time.Time{}
	}
	t, err := time.ParseInLocation("2006-01-02_15-04-05", base[:19], time.Local)
	if err != nil {
		return time.Time{}
	}
	return t
}

// fromQuery turns ?start= (RFC 3339, or a negative duration from now) into
// a timeline position. Gaps between segments are skipped: a time in a gap
// starts at the next segment.
func (s *Session) fromQuery(v string, now time.Time) (uint32, error) {
	var at time.Time
	if d, err := time.ParseDuration(v); err == nil {
		if d > 0 {
			d = -d
		}
		at = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		at = t
	} else {
		return 0, fmt.Errorf("%w: start=%q is neither an RFC 3339 time nor an offset like -10m", rtmp.ErrStreamNotFound, v)
	}
	for _, sg := range s.segs {
		if sg.start.IsZero() {
			continue
		}
		segEnd := sg.start.Add(time.Duration(sg.dur) * time.Millisecond)
		if at.Before(sg.start) {
			return sg.offset, nil
		}
		if at.Before(segEnd) {
			return sg.offset + uint32(at.Sub(sg.start)/time.Millisecond), nil
		}
	}
	// After the last recording: its last moments.
	return s.total - min(s.total, 1000), nil
}

// Length is the timeline's duration in seconds.
func (s *Session) Length() float64 { return float64(s.total) / 1000 }

// SetBufferLength sizes the read-ahead.
func (s *Session) SetBufferLength(ms uint32) { s.buffer.Store(ms) }

func (s *Session) lead() time.Duration {
	if s.unpaced {
		return time.Duration(1 << 62)
	}
	b := time.Duration(s.buffer.Load()) * time.Millisecond
	return min(b, maxLeadBuffer) + leadMargin
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Seek asks for a seek to ms (done by the next Next).
func (s *Session) Seek(ms float64) error {
	if ms < 0 {
		ms = 0
	}
	s.mu.Lock()
	s.seek, s.seekTo = true, uint32(min(ms, float64(s.total)))
	s.mu.Unlock()
	s.poke()
	return nil
}

// Pause stops or resumes the delivery.
func (s *Session) Pause(pause bool, ms float64) error {
	s.mu.Lock()
	s.paused = pause
	s.mu.Unlock()
	s.poke()
	return nil
}

// Close ends the session and wakes a blocked Next.
func (s *Session) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.poke()
}

// release drops everything held; called by Next when closed.
func (s *Session) release() {
	for _, m := range s.q {
		m.Release()
	}
	s.q = s.q[:0]
	s.closeFile()
}

func (s *Session) closeFile() {
	if s.rd != nil {
		s.rd.Close()
		s.rd = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// openSeg makes segment i the current one.
func (s *Session) openSeg(i int) error {
	s.closeFile()
	f, rd, _, err := openFile(s.segs[i].path)
	if err != nil {
		return err
	}
	s.f, s.rd, s.cur = f, rd, i
	return nil
}

// queueHeaders queues onMetaData and the sequence headers of the current
// segment at timeline time ts.
func (s *Session) queueHeaders(ts uint32, meta bool) {
	if meta {
		s.q = append(s.q, s.metadata(ts))
	}
	for _, h := range s.rd.Headers() {
		m := pool.Get(len(h.Payload))
		copy(m.Payload, h.Payload)
		m.Kind, m.Timestamp = h.Kind, ts
		m.Parse()
		h.Release()
		s.q = append(s.q, m)
	}
}

func (s *Session) metadata(ts uint32) *remux.Message {
	info := s.rd.Info()
	// The last timestamp, not the end of the last frame: rtmpdump calls a
	// download complete only when it reached 99.9% of the duration.
	last := s.segs[len(s.segs)-1]
	props := rtmp.ECMAArray{{Key: "duration", Value: float64(last.offset+last.last) / 1000}}
	if info.VideoCodec != 0 {
		id := 7.0
		if info.VideoCodec != remux.CodecAVC {
			id = float64(uint32(info.VideoCodec))
		}
		props = append(props, rtmp.Property{Key: "videocodecid", Value: id})
		if w, h := metaSize(info); w > 0 && h > 0 {
			props = append(props, rtmp.Property{Key: "width", Value: float64(w)}, rtmp.Property{Key: "height", Value: float64(h)})
		}
	}
	if info.AudioCodec != 0 {
		props = append(props, rtmp.Property{Key: "audiocodecid", Value: 10.0})
	}
	props = append(props, rtmp.Property{Key: "canSeekToEnd", Value: true})
	body, _ := rtmp.AppendAMF0(nil, "onMetaData", props)
	m := remux.NewMessage(remux.KindData, ts, body)
	return m
}

// metaSize is the picture size: the container's, else the FLV file's own
// onMetaData.
func metaSize(info remux.FileInfo) (int, int) {
	if info.Width > 0 && info.Height > 0 {
		return info.Width, info.Height
	}
	if info.Meta == nil {
		return 0, 0
	}
	vals, err := rtmp.DecodeAMF0(info.Meta)
	if err != nil || len(vals) < 2 {
		return 0, 0
	}
	var w, h float64
	switch o := vals[1].(type) {
	case rtmp.ECMAArray:
		w, _ = o.Number("width")
		h, _ = o.Number("height")
	case rtmp.Object:
		w, _ = o.Number("width")
		h, _ = o.Number("height")
	}
	return int(w), int(h)
}

// position moves to timeline ms: the keyframe at or before it.
func (s *Session) position(ms uint32) (uint32, error) {
	i := len(s.segs) - 1
	for j, sg := range s.segs {
		if ms < sg.offset+sg.dur {
			i = j
			break
		}
	}
	if s.rd == nil || s.cur != i {
		if err := s.openSeg(i); err != nil {
			return 0, err
		}
	}
	sg := s.segs[i]
	pos, err := s.rd.Seek(ms - min(ms, sg.offset))
	if err != nil {
		return 0, err
	}
	return pos + sg.offset, nil
}

// read queues the next message of the timeline; io.EOF at its end.
func (s *Session) read() error {
	for {
		m, err := s.rd.Next()
		if err == nil {
			m.Timestamp += s.segs[s.cur].offset
			if s.end > 0 && m.Timestamp > s.end {
				m.Release()
				return io.EOF
			}
			s.q = append(s.q, m)
			return nil
		}
		if err != io.EOF {
			if s.cur+1 >= len(s.segs) {
				return err
			}
			s.log.Warn("vod: segment ends early", "file", s.segs[s.cur].path, "err", err)
		}
		if s.cur+1 >= len(s.segs) {
			return io.EOF
		}
		if err := s.openSeg(s.cur + 1); err != nil {
			return err
		}
		// The next segment's headers (its codec settings may differ).
		s.queueHeaders(max(s.lastTS, s.segs[s.cur].offset), false)
		return nil
	}
}

// Next returns the messages due, paced at real time with a lead.
func (s *Session) Next(dst []*remux.Message) ([]*remux.Message, error) {
	for {
		s.mu.Lock()
		closed, seek, seekTo, paused := s.closed, s.seek, s.seekTo, s.paused
		s.seek = false
		s.mu.Unlock()
		if closed {
			s.release()
			return dst, errClosed
		}
		if !s.started || seek {
			first := !s.started
			at := s.startAt
			if seek {
				at = seekTo
			}
			for _, m := range s.q {
				m.Release()
			}
			s.q = s.q[:0]
			pos, err := s.position(at)
			if err != nil {
				return dst, err
			}
			s.started, s.done, s.clockSet = true, false, false
			s.tsBase = 0
			if first && s.rebase {
				s.tsBase = pos
			}
			if !first {
				dst = append(dst, remux.NewMessage(remux.KindSeekNotify, pos, nil))
			}
			s.lastTS = pos
			s.queueHeaders(pos, true)
			continue
		}
		if paused {
			s.wasPaused = true
			if len(dst) > 0 {
				return dst, nil
			}
			<-s.wake
			continue
		}
		if s.wasPaused {
			s.wasPaused, s.clockSet = false, false
		}
		if len(s.q) == 0 {
			if s.done {
				if len(dst) > 0 {
					return dst, nil
				}
				<-s.wake
				continue
			}
			if err := s.read(); err != nil {
				if err == io.EOF {
					s.done = true
					dst = append(dst, remux.NewMessage(remux.KindPlayComplete, s.total, nil))
					return dst, nil
				}
				return dst, err
			}
			continue
		}
		m := s.q[0]
		now := time.Now()
		if !s.clockSet && m.Kind.IsMedia() {
			s.clockStart, s.clockBase, s.clockSet = now, m.Timestamp, true
		}
		var wait time.Duration
		if s.clockSet && m.Timestamp > s.clockBase {
			due := s.clockStart.Add(time.Duration(m.Timestamp-s.clockBase)*time.Millisecond - s.lead())
			wait = due.Sub(now)
		}
		if wait <= 0 {
			n := copy(s.q, s.q[1:])
			s.q[n] = nil
			s.q = s.q[:n]
			if m.Kind.IsMedia() {
				s.lastTS = m.Timestamp
			}
			m.Timestamp -= min(m.Timestamp, s.tsBase)
			dst = append(dst, m)
			if len(dst) >= maxBatch {
				return dst, nil
			}
			continue
		}
		if len(dst) > 0 {
			return dst, nil
		}
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case <-s.timer.C:
		case <-s.wake:
			s.timer.Stop()
		}
	}
}

var _ rtmp.VODSubscription = (*Session)(nil)
