package vod

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
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
	// maxNotes bounds the pauses and unpauses waiting for Next: while the
	// player is blocked writing to a slow client, its commands pile up.
	maxNotes = 256
	// paceSlack: a message due this soon after one that is due now goes
	// out with it, up to this much before its time. The player writes
	// what Next hands over at once (with few players), so this makes a
	// write every 100 ms instead of one per message: at 100 players of a
	// 2 Mbit/s recording, ~0.1 instead of ~0.21 cores
	// (rtmp/internal/loadtest/RESULTS.md).
	// The lead is seconds, so the client sees no difference.
	paceSlack = 100 * time.Millisecond
)

// Following a segment still being recorded (Options.Open): at the end of
// what is on disk the session looks again every pollInterval (the recorder
// writes in bursts: a fragment, or its buffer every sync_every, so finer
// polling buys nothing); once the last segment of a timeline is closed, a
// successor (the recorder cut a new segment) is looked for during
// followGrace before the play completes: the next segment may be created
// only after the old one was rewritten (mp4) and its audio track awaited.
const (
	pollInterval = 200 * time.Millisecond
	followGrace  = 2 * time.Second
	// liveFrameMs is added to the last timestamp read from a growing
	// segment to make its duration so far (the file readers do the same).
	liveFrameMs = 40
)

// pool recycles the payload buffers of every session.
var pool = remux.NewPool()

var errClosed = errors.New("vod: play closed")

// errNotYet: the current (or next) segment is being recorded and has
// nothing more on disk yet; Next waits pollInterval and tries again.
var errNotYet = errors.New("vod: waiting for the recorder")

// grower is a FileReader that can go on reading a file that grew (remux's
// FLV and MP4 readers): Next returns what was appended since.
type grower interface{ Grow(size int64) }

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
	// Open reports whether path (as Target.Path and its segments are
	// named: absolute, symlinks resolved) is a segment the recorder is
	// still writing. Such a file is followed as it grows, up to the live
	// edge, until the recorder closes it; on a timeline, segments the
	// recorder starts meanwhile are appended. nil: every file is complete.
	Open func(path string) bool
	// Supports reports whether the player announced Enhanced RTMP support
	// for a codec (rtmp.ConnInfo.Supports). A play whose video is not H.264
	// (HEVC, AV1, VP9, ...) or whose audio is not AAC or MP3 needs it:
	// Open refuses such a target (ErrCodecNotAnnounced) when a segment's
	// codec is not supported, and media of such codecs met later (a codec
	// change, a segment recorded meanwhile) is dropped, never sent in a
	// form the player cannot decode. nil: every codec is sent.
	Supports func(remux.FourCC) bool
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
	log  *slog.Logger
	segs []segment
	// total is the timeline's duration; it grows while a segment being
	// recorded is followed, and Seek reads it from another goroutine.
	total atomic.Uint32
	end   uint32 // stop after this timeline ms (play duration), 0 = no limit
	// Following segments being recorded (see Options.Open).
	isOpen func(string) bool
	dir    string        // a timeline's directory, rescanned at its end when following
	listed string        // the last file of dir taken into the timeline
	poll   time.Duration // pollInterval; tests shorten it
	grace  time.Duration // followGrace; tests shorten it

	mu     sync.Mutex
	closed bool
	seek   bool
	seekTo uint32
	paused bool
	// notes are the Pause calls Next has yet to mark (true: pause), in
	// their order; at most maxNotes (a client flooding pause commands
	// faster than its player writes loses the answers to the oldest).
	notes  []bool
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
	pausedAt   time.Time // when Pause(true) stopped a playing session
	timer      *time.Timer
	size       int64 // of the current file, as its reader knows it
	live       bool  // the current file was being recorded at its last look
	followed   bool  // the current file was being recorded when opened
	graceEnd   time.Time
	// tsBase is subtracted from what goes out. A play with a start
	// argument starts the timestamps at 0: librtmp (rtmpdump --start,
	// --resume) adds its start to every timestamp it receives
	// (nTimeStamp = nResumeTS + packet ts). After a seek they are absolute:
	// RTMP_SendSeek resets nResumeTS to 0, and Flash shows them as is.
	tsBase uint32
	rebase bool
	// metaTS is when onMetaData goes out: librtmp adds the play's start
	// argument to it as to everything, so a rebased play sends it at
	// minus that start, to land at 0 (see queueHeaders).
	metaTS  uint32
	startMs uint32 // the play's start argument, for metaTS
	unpaced bool   // tests and benchmarks: no real-time pacing

	supports func(remux.FourCC) bool // Options.Supports, never nil
	verdicts map[remux.FourCC]bool   // Options.Supports per codec met so far
}

// Open prepares the play of t. It opens each segment once to learn its
// duration (a single file: just that one) and fails with an error wrapping
// rtmp.ErrStreamNotFound when nothing is playable.
//
// A segment being recorded (o.Open) is part of the play with the duration
// it has so far, and is followed as it grows: at the end of what is on
// disk the session waits for more (a tag or fragment cut by the end of
// the file is not read until it is whole), until the recorder closes it.
// All three recorder formats can be followed: FLV grows by tags, fMP4 by
// moof+mdat fragments, and "mp4" is an fMP4 file while it is recorded (its
// moov-first rewrite replaces the file only at the close; a session that
// opened it reads the fragmented original to its end). A file being
// recorded that has nothing playable yet (no fragment) is waited for.
func Open(t Target, o Options) (*Session, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Session{log: o.Log, wake: make(chan struct{}, 1), cur: -1, poll: pollInterval, grace: followGrace}
	s.isOpen = o.Open
	if s.isOpen == nil {
		s.isOpen = func(string) bool { return false }
	}
	follow := o.Open != nil
	s.supports = o.Supports
	if s.supports == nil {
		s.supports = func(remux.FourCC) bool { return true }
	}
	s.buffer.Store(defaultBufferMs)
	var paths []string
	if t.Dir {
		var err error
		if paths, err = listSegments(t.Path); err != nil {
			return nil, fmt.Errorf("%w: %v", rtmp.ErrStreamNotFound, err)
		}
		if follow {
			s.dir = t.Path
		}
	} else {
		paths = []string{t.Path}
	}
	for _, p := range paths {
		open := s.isOpen(p)
		f, rd, size, err := openFile(p)
		if err != nil {
			if open {
				// Just created by the recorder (an fMP4 segment has no
				// sample before its first fragment): it plays once it has.
				s.segs = append(s.segs, segment{path: p, start: nameTime(p)})
				continue
			}
			if !t.Dir {
				return nil, fmt.Errorf("%w: %s: %v", rtmp.ErrStreamNotFound, t.Rel, err)
			}
			o.Log.Warn("vod: segment skipped", "file", p, "err", err)
			continue
		}
		info := rd.Info()
		rd.Close()
		f.Close()
		if err := checkCodecs(t.Rel, info, s.supports); err != nil {
			return nil, err
		}
		s.segs = append(s.segs, segment{path: p, dur: info.Duration, last: info.Last, size: size, start: nameTime(p)})
	}
	if len(s.segs) == 0 {
		return nil, fmt.Errorf("%w: %s: no recordings", rtmp.ErrStreamNotFound, t.Rel)
	}
	// Files skipped after the last segment are looked at again by a
	// rescan: the recorder creates a file a moment before it says so.
	s.listed = s.segs[len(s.segs)-1].path
	s.relayout(0)
	total := s.total.Load()
	// Start position: the play's start argument, else ?start= on a timeline.
	if o.Start > 0 {
		s.startAt = uint32(min(o.Start, float64(total)))
	} else if t.Dir && o.From != "" {
		at, err := s.fromQuery(o.From, o.Now())
		if err != nil {
			return nil, err
		}
		s.startAt = at
	}
	s.rebase = o.Start > 0
	if s.rebase {
		s.startMs = uint32(min(o.Start, float64(1<<31)))
	}
	if o.Duration > 0 {
		s.end = s.startAt + uint32(min(o.Duration, float64(1<<31)))
	}
	return s, nil
}

// listSegments returns the recordings in dir in play order, as the
// recordings index orders them (recorder.CompareSegments: by the time
// in the name or its start sidecar, "X-1.mp4" after "X.mp4").
func listSegments(dir string) ([]string, error) {
	segs, err := recorder.ListDir(dir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(segs))
	for i, s := range segs {
		paths[i] = s.Path
	}
	return paths, nil
}

// relayout places segments from..end on the timeline after their
// predecessors, after a duration changed (a segment being recorded grew,
// or one appended by a rescan was opened), and updates the total.
func (s *Session) relayout(from int) {
	for j := max(from, 0); j < len(s.segs); j++ {
		s.segs[j].offset = 0
		if j > 0 {
			s.segs[j].offset = s.segs[j-1].offset + s.segs[j-1].dur
		}
	}
	last := s.segs[len(s.segs)-1]
	s.total.Store(last.offset + last.dur)
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
	rd, err := remux.OpenFile(f, fi.Size(), p, pool)
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	return f, rd, fi.Size(), nil
}

// nameTime is the start time of a segment: its name's, or the true start
// beside it after a clock step (zero if none).
func nameTime(p string) time.Time { return recorder.SegmentStart(p) }

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
	total := s.total.Load()
	return total - min(total, 1000), nil
}

// Length is the timeline's duration in seconds (so far, for a recording
// still being written).
func (s *Session) Length() float64 { return float64(s.total.Load()) / 1000 }

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
	s.seek, s.seekTo = true, uint32(min(ms, float64(s.total.Load())))
	s.mu.Unlock()
	s.poke()
	return nil
}

// Pause stops or resumes the delivery. Next marks it in order with the
// media (remux.KindPauseNotify, remux.KindUnpauseNotify), so the client's
// NetStream.Pause.Notify follows the last frame sent before the pause.
func (s *Session) Pause(pause bool, ms float64) error {
	s.mu.Lock()
	if pause && !s.paused {
		s.pausedAt = time.Now()
	}
	s.paused = pause
	if len(s.notes) == maxNotes {
		s.notes = append(s.notes[:0], s.notes[1:]...)
	}
	s.notes = append(s.notes, pause)
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

// openSeg makes segment i the current one. A segment being recorded that
// cannot be read yet gives errNotYet, and the current file stays as it was.
func (s *Session) openSeg(i int) error {
	sg := &s.segs[i]
	// Asked before the open: a segment closed after this answer is read
	// whole, since the close comes after its last write.
	open := s.isOpen(sg.path)
	f, rd, size, err := openFile(sg.path)
	if err != nil {
		if open {
			return errNotYet
		}
		return err
	}
	if info := rd.Info(); open && info.VideoCodec == 0 && info.AudioCodec == 0 {
		// Not even a sequence header on disk yet.
		rd.Close()
		f.Close()
		return errNotYet
	}
	s.closeFile()
	s.f, s.rd, s.cur, s.size = f, rd, i, size
	_, canGrow := rd.(grower)
	s.live = open && canGrow
	s.followed = s.live
	// What the file holds now, if more than when the play was opened (it
	// was being recorded, or it was appended by a rescan).
	if info := rd.Info(); info.Duration > sg.dur {
		sg.dur, sg.last = info.Duration, info.Last
		s.relayout(i + 1)
	}
	return nil
}

// follow is called at the end of what the current file had on disk while
// it was being recorded. It reports true when the file grew (the reader
// goes on), errNotYet when it is still being recorded with nothing new,
// and false when the recorder closed it and everything it wrote was read.
func (s *Session) follow() (bool, error) {
	// The recorder's state first, then the size: if it closed the file
	// after this answer, its last write is already in the size read next.
	open := s.isOpen(s.segs[s.cur].path)
	fi, err := s.f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() > s.size {
		s.size = fi.Size()
		s.rd.(grower).Grow(s.size)
		return true, nil
	}
	if open {
		return false, errNotYet
	}
	s.live = false
	s.graceEnd = time.Now().Add(s.grace)
	sg := &s.segs[s.cur]
	if info := s.rd.Info(); info.Duration > sg.dur {
		sg.dur, sg.last = info.Duration, info.Last
		s.relayout(s.cur + 1)
	}
	return false, nil
}

// grew notes the file time ts read from a segment being recorded: its
// duration so far.
func (s *Session) grew(ts uint32) {
	sg := &s.segs[s.cur]
	if ts <= sg.last && sg.dur > 0 {
		return
	}
	sg.last = max(sg.last, ts)
	if d := sg.last + liveFrameMs; d > sg.dur {
		sg.dur = d
		s.relayout(s.cur + 1)
	}
}

// rescan appends to a timeline the segments the recorder started after its
// last one; it reports whether there are any.
func (s *Session) rescan() bool {
	paths, err := listSegments(s.dir)
	if err != nil {
		return false
	}
	n := len(s.segs)
	// The files after the last one taken, in the index's order (which a
	// step of the wall clock can make differ from the names' order); by
	// name when that one is gone.
	after := slices.Index(paths, s.listed) + 1
	for i, p := range paths {
		if (after > 0 && i >= after) || (after == 0 && recorder.CompareSegmentNames(s.listed, p) < 0) {
			s.segs = append(s.segs, segment{path: p, start: nameTime(p)})
			s.listed = p
		}
	}
	if len(s.segs) == n {
		return false
	}
	s.relayout(n)
	return true
}

// queueHeaders queues onMetaData and the sequence headers of the current
// segment at timeline time ts.
func (s *Session) queueHeaders(ts uint32, meta bool) {
	if meta {
		// onMetaData goes out at metaTS, to land at time 0 (Next).
		s.q = append(s.q, s.metadata())
	}
	for _, h := range s.rd.Headers() {
		m := pool.Get(len(h.Payload))
		copy(m.Payload, h.Payload)
		m.Kind, m.Timestamp = h.Kind, ts
		m.Parse()
		h.Release()
		if m = s.deliverable(m); m != nil {
			s.q = append(s.q, m)
		}
	}
}

func (s *Session) metadata() *remux.Message {
	info := s.rd.Info()
	// The last timestamp, not the end of the last frame: rtmpdump calls a
	// download complete only when it reached 99.9% of the duration. For a
	// recording still being written: what is on disk so far.
	last := s.segs[len(s.segs)-1]
	props := amf.ECMAArray{{Key: "duration", Value: float64(last.offset+last.last) / 1000}}
	if info.VideoCodec != 0 {
		id := 7.0
		if info.VideoCodec != remux.CodecAVC {
			id = float64(uint32(info.VideoCodec))
		}
		props = append(props, amf.Property{Key: "videocodecid", Value: id})
		if w, h := metaSize(info); w > 0 && h > 0 {
			props = append(props, amf.Property{Key: "width", Value: float64(w)}, amf.Property{Key: "height", Value: float64(h)})
		}
	}
	if info.AudioCodec != 0 {
		id := float64(uint32(info.AudioCodec)) // Enhanced RTMP: the FourCC
		switch info.AudioCodec {
		case remux.CodecAAC:
			id = 10
		case remux.CodecMP3:
			id = 2
		}
		props = append(props, amf.Property{Key: "audiocodecid", Value: id})
	}
	props = append(props, amf.Property{Key: "canSeekToEnd", Value: true})
	body, _ := amf.AppendAMF0(nil, "onMetaData", props)
	m := remux.NewMessage(remux.KindData, 0, body)
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
	vals, err := amf.DecodeAMF0(info.Meta)
	if err != nil || len(vals) < 2 {
		return 0, 0
	}
	var w, h float64
	switch o := vals[1].(type) {
	case amf.ECMAArray:
		w, _ = o.Number("width")
		h, _ = o.Number("height")
	case amf.Object:
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
	fresh := s.rd == nil || s.cur != i
	if fresh {
		if err := s.openSeg(i); err != nil {
			return 0, err
		}
	}
	sg := s.segs[i]
	if fresh && s.live && ms <= sg.offset {
		// The start of a segment being recorded, which starts with a
		// keyframe: read it from its first tag. A Seek would step over
		// a sequence header that was not on disk yet when the reader
		// opened the file (so is not among its Headers).
		return sg.offset, nil
	}
	pos, err := s.rd.Seek(ms - min(ms, sg.offset))
	if err != nil {
		return 0, err
	}
	return pos + sg.offset, nil
}

// read queues the next message of the timeline; io.EOF at its end,
// errNotYet at the live edge of a segment being recorded.
func (s *Session) read() error {
	for {
		m, err := s.rd.Next()
		if err == nil {
			if s.live && m.Kind.IsMedia() {
				s.grew(m.Timestamp)
			}
			if m = s.deliverable(m); m == nil {
				continue
			}
			m.Timestamp += s.segs[s.cur].offset
			if s.end > 0 && m.Timestamp > s.end {
				m.Release()
				return io.EOF
			}
			s.q = append(s.q, m)
			return nil
		}
		if s.live && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) {
			// The end of what is on disk, maybe in the middle of a tag
			// or fragment the recorder is writing: not the end yet.
			more, ferr := s.follow()
			if ferr != nil {
				return ferr
			}
			if more {
				continue
			}
			if err != io.EOF {
				// Closed with a cut tail (a write error): what came
				// before it was the whole recording.
				s.log.Warn("vod: recording ends with a cut tag", "file", s.segs[s.cur].path, "err", err)
				err = io.EOF
			}
		}
		if err != io.EOF {
			if s.cur+1 >= len(s.segs) {
				return err
			}
			s.log.Warn("vod: segment ends early", "file", s.segs[s.cur].path, "err", err)
		}
		// The end of a timeline: the recorder may have started segments
		// since the play was opened (or be about to, right after closing
		// the one just followed).
		if s.cur+1 >= len(s.segs) && !(s.dir != "" && s.rescan()) {
			if s.followed && s.dir != "" && time.Now().Before(s.graceEnd) {
				return errNotYet
			}
			return io.EOF
		}
		if err := s.openSeg(s.cur + 1); err != nil {
			if err == errNotYet || s.dir == "" {
				return err
			}
			if s.followed && time.Now().Before(s.graceEnd) {
				// Found by a rescan right after the recorder created
				// it, before it announced it (and wrote its header).
				return errNotYet
			}
			// Gone (retention) or unreadable: the timeline goes on
			// without it, as Open leaves out such files.
			s.log.Warn("vod: segment skipped", "file", s.segs[s.cur+1].path, "err", err)
			s.segs = append(s.segs[:s.cur+1], s.segs[s.cur+2:]...)
			s.relayout(s.cur + 1)
			continue
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
		closed, seek, seekTo, paused, pausedAt := s.closed, s.seek, s.seekTo, s.paused, s.pausedAt
		s.seek = false
		// The pauses and unpauses since the last look, after what dst
		// holds (sent before them) and read with paused under one lock:
		// when paused, nothing more is added until an unpause is marked.
		for _, p := range s.notes {
			kind := remux.KindUnpauseNotify
			if p {
				kind = remux.KindPauseNotify
			}
			dst = append(dst, remux.NewMessage(kind, s.lastTS-min(s.lastTS, s.tsBase), nil))
		}
		s.notes = s.notes[:0]
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
			if err == errNotYet {
				// The segment to start in is being recorded and has no
				// frame on disk yet. Keep the seek for the next try.
				if seek {
					s.mu.Lock()
					if !s.seek {
						s.seek, s.seekTo = true, seekTo
					}
					s.mu.Unlock()
				}
				if len(dst) > 0 {
					return dst, nil
				}
				s.sleep(s.poll)
				continue
			}
			if err != nil {
				return dst, err
			}
			s.started, s.done, s.clockSet = true, false, false
			s.tsBase, s.metaTS = 0, 0
			if first && s.rebase {
				s.tsBase, s.metaTS = pos, -s.startMs
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
			// The client kept what it had buffered (a player that wants
			// it gone seeks): the clock stood still while paused, so the
			// lead it holds is not sent a second time. Restarting the
			// clock instead sent a whole lead (4 s) more at every unpause.
			s.wasPaused = false
			if s.clockSet {
				s.clockStart = s.clockStart.Add(time.Since(pausedAt))
			}
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
					dst = append(dst, remux.NewMessage(remux.KindPlayComplete, s.total.Load(), nil))
					return dst, nil
				}
				if err == errNotYet {
					// The live edge: hand over what is due, then look
					// again a little later.
					if len(dst) > 0 {
						return dst, nil
					}
					s.sleep(s.poll)
					continue
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
		if wait <= 0 || len(dst) > 0 && wait <= paceSlack {
			n := copy(s.q, s.q[1:])
			s.q[n] = nil
			s.q = s.q[:n]
			if m.Kind.IsMedia() {
				s.lastTS = m.Timestamp
			}
			if m.Kind == remux.KindData {
				// onMetaData belongs at time 0 of what the client writes:
				// at any other time ffmpeg's FLV demuxer takes it for a
				// data packet ("Subtitle: text" in rtmpdump --start's file).
				m.Timestamp = s.metaTS
			} else {
				m.Timestamp -= min(m.Timestamp, s.tsBase)
			}
			dst = append(dst, m)
			if len(dst) >= maxBatch {
				return dst, nil
			}
			continue
		}
		if len(dst) > 0 {
			return dst, nil
		}
		s.sleep(wait)
	}
}

// sleep waits d, or less if Seek, Pause or Close wake the session.
func (s *Session) sleep(d time.Duration) {
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-s.timer.C:
	case <-s.wake:
		s.timer.Stop()
	}
}

var _ rtmp.VODSubscription = (*Session)(nil)
