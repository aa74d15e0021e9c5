package hls

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
)

// errEnded is a muxer's state once its stream ended or it was stopped.
var errEnded = errors.New("stream ended")

// part is one partial segment: a moof+mdat.
type part struct {
	pn          uint64 // part number over the whole muxer: its URI
	data        []byte
	dur         int64 // ms
	independent bool
}

// segment is a run of parts from one keyframe to the next past
// SegmentDuration.
type segment struct {
	msn      uint64
	start    int64 // ms on the muxer's timeline
	dur      int64 // ms, set when complete
	parts    []*part
	bytes    int64
	init     int  // which init segment the parts need
	discont  bool // a new publish session (or codec change) starts here
	complete bool
}

// muxer turns one stream's messages into LL-HLS segments and parts.
type muxer struct {
	app, stream string
	cfg         Config
	log         *slog.Logger
	sub         *hub.Subscriber
	lastReq     atomic.Int64 // unix ns of the last request's start or end
	inflight    atomic.Int32 // requests being answered (blocking ones wait)
	done        chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a part or segment is added
	err     error         // set once the muxer stopped, or the stream cannot be carried
	inits   map[int][]byte
	initSeq int
	segs    []*segment // oldest first; the last one may be incomplete
	nextMSN uint64
	nextPN  uint64
	discSeq uint64            // discontinuities dropped off the front
	anchors map[int]time.Time // per session (init): wall-clock time of timeline 0, for PROGRAM-DATE-TIME
	maxDur  int64             // longest segment so far, ms
	notes   []string

	// Owned by the run goroutine.
	frag             *recorder.Fragmenter
	videoHdr         *remux.Message
	audioHdr         *remux.Message
	carry            [2]bool // which kinds the fragmenter carries
	needInit         bool
	base             int64 // ext of timeline 0
	ext              int64
	last32           uint32
	tsInit           bool
	offset           int64 // added to rel so a new session continues the timeline
	lastRel          int64
	partStart        int64
	leadPrev         int64
	haveLead         bool
	waitKey          bool
	buf              []byte
	warned           map[string]bool
	sessionEndPassed bool
}

func newMuxer(app, stream string, sub *hub.Subscriber, cfg Config, log *slog.Logger) *muxer {
	m := &muxer{
		app: app, stream: stream, cfg: cfg, sub: sub, done: make(chan struct{}),
		log:     log.With("app", app, "stream", stream),
		changed: make(chan struct{}), inits: map[int][]byte{}, anchors: map[int]time.Time{}, warned: map[string]bool{},
		needInit: true,
	}
	m.touch()
	return m
}

func (m *muxer) touch() { m.lastReq.Store(time.Now().UnixNano()) }

// request marks a request in progress until the returned func is called.
func (m *muxer) request() func() {
	m.touch()
	m.inflight.Add(1)
	return func() { m.inflight.Add(-1); m.touch() }
}

// run reads the stream until it ends or the muxer is stopped.
func (m *muxer) run() {
	defer close(m.done)
	var msgs []*remux.Message
	var err error
	for {
		msgs, err = m.sub.Next(msgs[:0])
		for i, msg := range msgs {
			m.handle(msg)
			msg.Release()
			msgs[i] = nil
		}
		if err != nil {
			break
		}
	}
	m.endSegment()
	if m.frag != nil {
		m.frag.Release()
	}
	for _, h := range []*remux.Message{m.videoHdr, m.audioHdr} {
		if h != nil {
			h.Release()
		}
	}
	m.fail(errEnded)
}

// watch stops the muxer once it went IdleTimeout without a request.
func (m *muxer) watch(stopped func()) {
	tick := time.NewTicker(max(m.cfg.IdleTimeout/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			stopped()
			return
		case <-tick.C:
			if m.inflight.Load() == 0 && time.Since(time.Unix(0, m.lastReq.Load())) > m.cfg.IdleTimeout {
				m.log.Info("hls muxer stopped: no client", "idle", m.cfg.IdleTimeout)
				m.sub.Close()
				<-m.done
				stopped()
				return
			}
		}
	}
}

// fail records why the muxer serves no more and wakes every waiter.
func (m *muxer) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.broadcastLocked()
	m.mu.Unlock()
}

func (m *muxer) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *muxer) warnOnce(key, msg string, args ...any) {
	if m.warned[key] {
		return
	}
	m.warned[key] = true
	m.log.Warn(msg, args...)
}

func (m *muxer) handle(msg *remux.Message) {
	switch msg.Kind {
	case remux.KindStreamStart, remux.KindStreamEnd:
		// A publisher left or came back: the next media starts a new
		// session (new init segment, discontinuity).
		m.newSession()
		return
	case remux.KindVideo, remux.KindAudio:
	default:
		return
	}
	if msg.Frame.Track != 0 || msg.Frame.Multitrack != remux.NotMultitrack {
		return
	}
	if msg.Frame.SequenceHeader {
		p := &m.audioHdr
		if msg.Kind == remux.KindVideo {
			p = &m.videoHdr
		}
		if *p != nil && bytes.Equal((*p).Payload, msg.Payload) {
			return
		}
		if *p != nil {
			m.newSession() // codec configuration changed
			(*p).Release()
		}
		*p = msg.Retain()
		return
	}
	if m.needInit && !m.startSession(msg) {
		return
	}
	k := 1
	if msg.Kind == remux.KindVideo {
		k = 0
	}
	if !m.carry[k] {
		return
	}
	ext := m.unwrap(msg.Timestamp)
	rel := ext - m.base + m.offset
	if rel < m.lastRel-1000 || rel > m.lastRel+10000 {
		// A jump in the publisher's clock: restart the timeline.
		m.warnOnce("jump", "hls: timestamp jump, starting a new session", "jump_ms", rel-m.lastRel)
		m.newSession()
		if !m.startSession(msg) {
			return
		}
		rel = m.offset
	}
	lead := k == 0 || !m.carry[0]
	key := msg.Kind == remux.KindVideo && msg.IsKeyframe()
	if lead && m.waitKey {
		if !key {
			return
		}
		m.waitKey = false
	}
	m.anchorAt(rel, msg.Arrived)
	if !m.frag.Add(msg, rel) {
		return
	}
	if rel > m.lastRel {
		m.lastRel = rel
	}
	if !lead {
		return
	}
	m.cut(rel, key || k == 1)
}

// cut ends the part (and the segment) before the lead frame at rel if due.
func (m *muxer) cut(rel int64, key bool) {
	frame := int64(0)
	if m.haveLead {
		frame = rel - m.leadPrev
	}
	m.leadPrev, m.haveLead = rel, true
	cur := m.current()
	if cur == nil {
		m.openSegment(rel)
		m.partStart = rel
		return
	}
	segMs := m.cfg.SegmentDuration.Milliseconds()
	// Past 10x segment_duration or a quarter of max_stream_bytes a segment
	// ends between keyframes: rare keyframes must not stretch memory.
	long := rel-cur.start >= segMs*maxSegmentFactor || cur.bytes >= m.cfg.MaxStreamBytes/4
	if (key && rel-cur.start >= segMs) || long {
		m.flushPart()
		m.closeSegment(rel)
		m.openSegment(rel)
		m.partStart = rel
		return
	}
	if rel+frame-m.partStart > m.cfg.PartDuration.Milliseconds() {
		m.flushPart()
		m.partStart = rel
	}
}

// current is the incomplete segment, or nil.
func (m *muxer) current() *segment {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.segs); n > 0 && !m.segs[n-1].complete {
		return m.segs[n-1]
	}
	return nil
}

// startSession builds the fragmenter from the headers at the first frame
// of a session; false while the stream cannot be carried.
func (m *muxer) startSession(msg *remux.Message) bool {
	video, audio := m.videoHdr, m.audioHdr
	var unsupported []string
	if video != nil && !hlsVideo(video.Frame.Codec) {
		unsupported = append(unsupported, "video "+video.Frame.Codec.String())
		video = nil
	}
	if audio != nil && !hlsAudio(audio.Frame.Codec) {
		unsupported = append(unsupported, "audio "+audio.Frame.Codec.String())
		audio = nil
	}
	if msg.Kind == remux.KindVideo && m.videoHdr == nil || msg.Kind == remux.KindAudio && m.audioHdr == nil {
		unsupported = append(unsupported, fmt.Sprintf("%v %v without a sequence header", msg.Kind, msg.Frame.Codec))
	}
	var notes []string
	for _, u := range unsupported {
		notes = append(notes, u+" is not carried by HLS (H.264, H.265, AAC and Opus are)")
		m.warnOnce("codec"+u, "hls: track not carried", "track", u)
	}
	if video == nil && audio == nil {
		m.setNotes(notes)
		if len(notes) > 0 {
			m.fail(fmt.Errorf("%s", notes[0]))
		}
		return false
	}
	f, err := recorder.NewFragmenter(video, audio)
	if err != nil {
		m.warnOnce("frag", "hls: stream not carried", "err", err)
		m.fail(fmt.Errorf("stream not carried by HLS: %w", err))
		return false
	}
	if m.frag != nil {
		m.frag.Release()
	}
	m.frag = f
	m.carry = [2]bool{video != nil, audio != nil}
	m.waitKey = video != nil
	m.tsInit = false
	m.unwrap(msg.Timestamp)
	m.base = m.ext
	m.needInit = false
	m.haveLead = false
	m.mu.Lock()
	m.initSeq++
	m.inits[m.initSeq] = f.Init(nil)
	m.notes = notes
	m.mu.Unlock()
	m.log.Info("hls muxer session started", "video", codecName(video), "audio", codecName(audio))
	return true
}

func (m *muxer) setNotes(notes []string) {
	m.mu.Lock()
	m.notes = notes
	m.mu.Unlock()
}

// newSession ends the current segment; the next frame starts a session
// that continues the timeline after a discontinuity.
func (m *muxer) newSession() {
	if m.needInit {
		return
	}
	m.endSegment()
	m.needInit = true
	m.offset = m.lastRel + 1
	m.sessionEndPassed = true
}

// endSegment flushes what is pending as the last part of the current
// segment and completes it.
func (m *muxer) endSegment() {
	if m.frag == nil {
		return
	}
	m.frag.Finish()
	m.flushPart()
	if cur := m.current(); cur != nil {
		end := m.lastRel
		if n := len(cur.parts); n > 0 {
			end = max(end, m.partStart+cur.parts[n-1].dur)
		}
		m.closeSegment(end)
	}
}

func (m *muxer) unwrap(ts uint32) int64 {
	if !m.tsInit {
		m.tsInit, m.last32, m.ext = true, ts, int64(ts)
		return m.ext
	}
	m.ext += int64(int32(ts - m.last32))
	m.last32 = ts
	return m.ext
}

// anchorAt ties the session's timeline to the wall clock: the frame at
// rel reached the hub at arrived (now, when that is unknown). The earliest
// such tie wins: a muxer that ran behind, or frames without an arrival
// replayed from the GOP cache, tie it late.
func (m *muxer) anchorAt(rel int64, arrived time.Time) {
	if arrived.IsZero() {
		arrived = time.Now()
	}
	a := arrived.Add(-time.Duration(rel) * time.Millisecond)
	m.mu.Lock()
	if old, ok := m.anchors[m.initSeq]; !ok || a.Before(old) {
		m.anchors[m.initSeq] = a
	}
	m.mu.Unlock()
}

func (m *muxer) openSegment(rel int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &segment{msn: m.nextMSN, start: rel, init: m.initSeq}
	if m.sessionEndPassed && m.nextMSN > 0 {
		s.discont = true
	}
	m.sessionEndPassed = false
	m.nextMSN++
	m.segs = append(m.segs, s)
	m.broadcastLocked()
}

// flushPart makes the fragmenter's final frames the next part.
func (m *muxer) flushPart() {
	b, info, ok := m.frag.Fragment(m.buf[:0])
	if !ok {
		return
	}
	data := bytes.Clone(b)
	m.buf = b[:0]
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.segs)
	if n == 0 || m.segs[n-1].complete {
		return // frames before the first keyframe's segment
	}
	cur := m.segs[n-1]
	dur := info.Duration
	if dur <= 0 {
		dur = 1
	}
	cur.parts = append(cur.parts, &part{pn: m.nextPN, data: data, dur: dur, independent: info.Independent})
	m.nextPN++
	cur.bytes += int64(len(data))
	m.trimLocked()
	m.broadcastLocked()
}

// closeSegment completes the current segment, which ends at rel.
func (m *muxer) closeSegment(rel int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.segs)
	if n == 0 || m.segs[n-1].complete {
		return
	}
	cur := m.segs[n-1]
	if len(cur.parts) == 0 {
		m.segs = m.segs[:n-1]
		m.nextMSN--
		return
	}
	var sum int64
	for _, p := range cur.parts {
		sum += p.dur
	}
	cur.dur = max(sum, rel-cur.start)
	cur.complete = true
	m.maxDur = max(m.maxDur, cur.dur)
	m.trimLocked()
	m.broadcastLocked()
}

// trimLocked drops the oldest segments beyond SegmentCount complete ones
// or MaxStreamBytes, down to one complete segment and the one being made.
func (m *muxer) trimLocked() {
	var total int64
	complete := 0
	for _, s := range m.segs {
		total += s.bytes
		if s.complete {
			complete++
		}
	}
	// The newest complete segment stays whatever its size: a player needs one.
	for complete > 1 && m.segs[0].complete && (complete > m.cfg.SegmentCount || total > m.cfg.MaxStreamBytes) {
		old := m.segs[0]
		total -= old.bytes
		complete--
		if old.discont {
			m.discSeq++
		}
		m.segs = m.segs[1:]
		used := false
		for _, s := range m.segs {
			used = used || s.init == old.init
		}
		if !used {
			delete(m.inits, old.init)
			delete(m.anchors, old.init)
		}
	}
}

func hlsVideo(c remux.FourCC) bool { return c == remux.CodecAVC || c == remux.CodecHEVC }
func hlsAudio(c remux.FourCC) bool { return c == remux.CodecAAC || c == remux.CodecOpus }

func codecName(h *remux.Message) string {
	if h == nil {
		return "none"
	}
	return h.Frame.Codec.String()
}
