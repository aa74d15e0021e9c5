package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// Formats.
const (
	FormatFMP4 = "fmp4" // fragmented MP4, readable up to its last fragment after a crash
	FormatMP4  = "mp4"  // fragmented while recording, progressive (moov first) once closed
	FormatFLV  = "flv"  // tags as received, onMetaData patched in place at close
)

// Defaults.
const (
	DefaultSegmentDuration = 10 * time.Minute
	DefaultFragment        = time.Second
	DefaultSyncEvery       = 2 * time.Second
)

const (
	// retryInterval is how long recording stays paused after a write error
	// before it tries to open a new segment.
	retryInterval = 3 * time.Second
	// Timestamp discontinuities: a track going back by more than backJump,
	// or the stream going forward by more than fwdJump, starts a new segment.
	backJump = 1000  // ms
	fwdJump  = 10000 // ms
	// maxSegment caps a segment whatever the configuration says, far below
	// the 2^31 ms FLV timestamp range.
	maxSegment = 24 * time.Hour
	// slowSync is the flush+fsync time reported as a disk slower than needed.
	slowSync = time.Second
	// bufSize is the write buffer. The page cache, not this buffer, is what
	// turns writes into large sequential ones for an SD card (the card sees
	// them at fsync), so 64 KiB only saves syscalls; every recorded stream
	// holds it (256 KiB was a quarter of a stream's memory).
	bufSize = 64 << 10
)

// Source is what the hub's subscriber offers (hub.Subscriber satisfies it).
// Next blocks until messages are available and appends retained references
// to dst. If the source also has a Close() or Close() error method, Record
// calls it when its context is cancelled, to unblock Next.
type Source interface {
	Next(dst []*remux.Message) ([]*remux.Message, error)
}

// Config configures Record. The zero value records fMP4 segments of 10
// minutes under the current directory.
type Config struct {
	Dir             string        // storage root
	PathTemplate    string        // default DefaultPathTemplate; extension added per format
	Format          string        // FormatFMP4 (default), FormatMP4 or FormatFLV
	SegmentDuration time.Duration // default 10m; cut only at video keyframes (audio-only: on time)
	SegmentMaxBytes int64         // 0 = no limit; cut at the first keyframe past it
	Fragment        time.Duration // fMP4 fragment target, default 1s, rounded to GOPs
	SyncEvery       time.Duration // flush+fsync schedule, default 2s (fMP4: also every fragment)
	Logger          *slog.Logger  // default slog.Default()
	// OnSegmentOpen, when set, is called synchronously with the path of
	// each segment file right after the file is created, before anything
	// is written to it: the file is in use (retention must not delete it)
	// until OnSegmentDone reports the same path. It runs on the recording
	// path, so it must be quick (record the path, no I/O) and must not
	// call back into the recorder.
	OnSegmentOpen func(path string)
	// OnSegmentDone is called in its own goroutine when a segment is closed
	// (after the progressive rewrite of FormatMP4). Every OnSegmentOpen is
	// followed by exactly one OnSegmentDone whose OpenPath is the same path
	// (Path is too, unless a step of the wall clock renamed the segment),
	// including when the segment's header could not be written: the file
	// was then removed, Bytes is 0 and Err is set. Record returns only
	// after every OnSegmentDone call it started has returned.
	OnSegmentDone func(Segment)
	// Clock names segments (wall clock) and schedules fsyncs and retries
	// (steady clock); default a SystemClock. A step of the wall clock
	// (NTP setting the clock of a box without a real-time clock) cuts the
	// open segment at the next keyframe and renames it, once closed, to
	// its true start: see renameAfterStep.
	Clock Clock
	// Journal is the boot journal of Dir (NewBootJournal), one shared by
	// every recorder over Dir: on a clock the kernel says is not
	// synchronised, the segments opened are journaled in it so that a
	// later start can check their names (ReconcileBoot); it also
	// serializes the renames of segments in Dir after a clock step.
	// nil: nothing is journaled, and renames are not serialized with
	// those of other recorders or ClockSteps.
	Journal *BootJournal
	// Stats, when set, receives the recorder's counters (share one Stats
	// per stream, or one for the whole box: the counters are atomic).
	Stats *Stats

	openFile func(path string) (file, error) // tests inject failing files
}

// Segment describes a closed segment.
type Segment struct {
	Path string
	// OpenPath is the path OnSegmentOpen reported. It differs from Path
	// when the wall clock stepped while the segment was open and the
	// closed file was renamed to its true start.
	OpenPath    string
	App, Stream string
	Start       time.Time // wall clock when the segment was opened (corrected when it was renamed)
	Duration    time.Duration
	Bytes       int64
	Format      string
	// Err is set when a write error cut the segment short; the file is
	// still playable up to its last complete fragment (fMP4) or tag (FLV).
	// When even the segment's header could not be written, the file was
	// removed: Bytes is 0 and there is nothing to play.
	Err error
	// RenamedFrom is set only in a segment hook's rename event (see
	// Hook): the path the hook was told before the segment was renamed
	// to its true start.
	RenamedFrom string
}

// Stats are a recorder's counters, updated atomically. The zero value is
// ready to use; do not copy a Stats after first use.
type Stats struct {
	Segments        atomic.Int64 // segments opened
	Bytes           atomic.Int64 // bytes written to segment files
	Messages        atomic.Int64 // media messages written
	Dropped         atomic.Int64 // media messages not recorded (waiting for a keyframe, paused, unsupported codec)
	WriteErrors     atomic.Int64 // failed creates, writes, flushes or fsyncs
	Discontinuities atomic.Int64 // timestamp jumps that started a new segment
	ClockSteps      atomic.Int64 // steps of the wall clock that cut and renamed a segment
	SlowSyncs       atomic.Int64 // flush+fsync calls slower than 1 s: the disk is slower than the stream
	Paused          atomic.Bool  // recording paused after a write error
}

// StatsSnapshot is a copy of Stats' values.
type StatsSnapshot struct {
	Segments, Bytes, Messages, Dropped, WriteErrors, Discontinuities, SlowSyncs, ClockSteps int64
	Paused                                                                                  bool
}

// Snapshot returns the current values.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Segments: s.Segments.Load(), Bytes: s.Bytes.Load(), Messages: s.Messages.Load(),
		Dropped: s.Dropped.Load(), WriteErrors: s.WriteErrors.Load(),
		Discontinuities: s.Discontinuities.Load(), SlowSyncs: s.SlowSyncs.Load(),
		ClockSteps: s.ClockSteps.Load(),
		Paused:     s.Paused.Load(),
	}
}

func (c *Config) setDefaults() error {
	if c.PathTemplate == "" {
		c.PathTemplate = DefaultPathTemplate
	}
	switch c.Format {
	case "":
		c.Format = FormatFMP4
	case FormatFMP4, FormatMP4, FormatFLV:
	default:
		return fmt.Errorf("recorder: unknown format %q (want fmp4, mp4 or flv)", c.Format)
	}
	if c.SegmentDuration <= 0 {
		c.SegmentDuration = DefaultSegmentDuration
	}
	if c.SegmentDuration > maxSegment {
		c.SegmentDuration = maxSegment
	}
	if c.Fragment <= 0 {
		c.Fragment = DefaultFragment
	}
	if c.SyncEvery <= 0 {
		c.SyncEvery = DefaultSyncEvery
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = NewSystemClock()
	}
	if c.Journal != nil && !c.Journal.sameDir(c.Dir) {
		return fmt.Errorf("recorder: boot journal of %s given for storage directory %s", c.Journal.Dir(), c.Dir)
	}
	if c.Stats == nil {
		c.Stats = new(Stats)
	}
	if c.openFile == nil {
		c.openFile = openFileDefault
	}
	return nil
}

// Record consumes src until it returns an error (stream ended) or ctx is
// done, writing segments; it closes the last segment cleanly. Every message
// it receives is released by it. It returns ctx.Err() when the context
// ended it, otherwise the source's error (e.g. hub.ErrEnded). Write errors
// never end it: they are logged and counted in cfg.Stats, recording pauses
// and resumes with a new segment.
func Record(ctx context.Context, src Source, app, stream string, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	r := &recorder{
		cfg: cfg, app: app, stream: stream, stats: cfg.Stats,
		log:    cfg.Logger.With("app", app, "stream", stream, "format", cfg.Format),
		bw:     newGrowWriter(io.Discard, bufSize),
		warned: make(map[string]bool),
	}
	r.lastSync = r.cfg.Clock.Elapsed()
	defer r.callbacks.Wait() // runs last: after the final segment is reported
	defer r.shutdown()
	if ps, ok := src.(PollSource); ok {
		return r.recordPolling(ctx, ps) // poll.go: no goroutine of its own
	}

	type batch struct {
		msgs []*remux.Message
		err  error
	}
	batches := make(chan batch)
	free := make(chan []*remux.Message, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		buf := make([]*remux.Message, 0, 128)
		for {
			msgs, err := src.Next(buf[:0])
			select {
			case batches <- batch{msgs, err}:
			case <-done:
				for _, m := range msgs {
					m.Release()
				}
				return
			}
			if err != nil {
				return
			}
			select {
			case buf = <-free:
			case <-done:
				return
			}
		}
	}()

	tick := time.NewTicker(cfg.SyncEvery)
	defer tick.Stop()
	for {
		select {
		case b := <-batches:
			for i, m := range b.msgs {
				r.safeHandle(m)
				m.Release()
				b.msgs[i] = nil
			}
			r.maybeSync(false)
			if b.err != nil {
				close(done)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return b.err
			}
			free <- b.msgs[:0]
		case <-tick.C:
			r.maybeSync(false)
		case <-ctx.Done():
			r.shutdown()
			close(done)
			if closeSource(src) {
				<-exited
			}
			return ctx.Err()
		}
	}
}

// closeSource closes src if it knows how, reporting whether it did.
func closeSource(src Source) bool {
	switch c := src.(type) {
	case interface{ Close() }:
		c.Close()
		return true
	case interface{ Close() error }:
		_ = c.Close()
		return true
	}
	return false
}

// Track indexes.
const (
	trackVideo = 0
	trackAudio = 1
)

// trackState is the current configuration of one track of the session.
type trackState struct {
	hdr   []byte       // last sequence-header message payload (whole FLV body), owned copy
	frame remux.Frame  // hdr's tag header, as parsed at ingest
	codec remux.FourCC // codec of hdr / cfg
	cfg   *trackConfig // MP4 description, nil when unknown or unsupported
	// inband: the video description comes from the parameter sets inside
	// keyframes (MP4 only; see inband.go), because the sequence header
	// lacks them or never came; nalLen is the frames' NAL length size.
	inband bool
	nalLen int
}

// segmentWriter is one open segment file.
type segmentWriter interface {
	// hasTrack reports whether the segment records track t.
	hasTrack(t int) bool
	// media writes one frame; rel is its DTS in ms since the segment start.
	media(t int, m *remux.Message, p payload, rel int64) error
	// header writes a sequence header that arrived mid-segment (FLV only).
	header(t int, m *remux.Message, rel int64) error
	// data writes a script-data message (FLV only).
	data(m *remux.Message, rel int64) error
	// sync flushes buffered bytes and fsyncs.
	sync() error
	// size is the segment's size so far, including buffered bytes.
	size() int64
	// duration is the media time covered so far, in ms.
	duration() int64
	// close finishes the file; abort only closes it (after a write error).
	close(abort bool) error
}

type recorder struct {
	cfg         Config
	app, stream string
	log         *slog.Logger
	stats       *Stats
	bw          *growWriter // reused by every segment

	// Session state (reset by KindStreamStart).
	video, audio trackState
	meta         []metaProp   // publisher's onMetaData primitives
	extras       []extraTrack // multitrack tracks (MP4), see multitrack.go
	labels       []trackLabel // languages and names of the tracks, from onMetaData
	videoFrames  bool         // video frames seen (FLV: legacy codecs without headers)
	audioFrames  bool

	// Timeline: unwrapped 64-bit ms timestamps.
	tsInit    bool
	last32    uint32
	ext       int64
	lastT     [2]int64
	haveT     [2]bool
	lastAny   int64
	late      [2]bool     // the track stepped back alone (late.go)
	lateHeld  []heldFrame // its frames since, in case the stream was reset
	lateBytes int         // their payload bytes (bounded by holdMaxBytes)

	// Frames leading the video while a cut is due (lead.go).
	ahead       []heldFrame
	aheadBytes  int
	aheadSpare  []heldFrame // ahead's other buffer, swapped at a cut
	aheadCarry  []heldFrame // the frames being carried over a cut
	aheadWarned bool        // the hold's bound was hit this session

	seg      segmentWriter
	segInfo  Segment
	base     int64 // unwrapped ms of the segment's first frame
	lastRel  int64 // rel of the last frame written
	reported int64 // bytes of the open segment already added to stats

	hold          []heldFrame // frames waiting for the audio description (MP4)
	holdBytes     int
	audioGaveUp   bool  // awaited audio never came this session
	sessionOpened bool  // a segment was opened this session
	videoWait     bool  // audio is waiting for announced video (awaitVideo)
	videoWaitFrom int64 // since this unwrapped ms
	videoGaveUp   bool  // announced video never came this session

	inbandRec, inbandRBSP []byte // scratch of inbandVideo

	// Wall clock steps during the open segment (see checkClock).
	segOpened  time.Duration // steady time of the segment's opening
	segOrigin  time.Time     // the clock's origin by the wall clock, last checked
	segStepped bool          // the wall clock stepped: cut, then rename
	namer      *segNamer     // how this recorder names segments, for ClockSteps' renames
	dating     mediaDating   // segments dated along the media's timeline (dating.go)

	paused     bool
	pauseUntil time.Duration // steady time
	lastSync   time.Duration // steady time
	warned     map[string]bool
	callbacks  sync.WaitGroup // OnSegmentDone calls in flight
}

func (r *recorder) mp4() bool { return r.cfg.Format != FormatFLV }

func (r *recorder) warnOnce(key, msg string, args ...any) {
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	r.log.Warn(msg, args...)
}

// safeHandle handles one message; a bug must not take the appliance down,
// so a panic drops the segment and pauses recording like a write error.
func (r *recorder) safeHandle(m *remux.Message) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("recorder panic", "panic", p, "stack", string(debug.Stack()))
			r.dropHold()
			r.dropAhead()
			r.fail(fmt.Errorf("internal error: %v", p))
		}
	}()
	r.handle(m)
}

func (r *recorder) handle(m *remux.Message) {
	switch m.Kind {
	case remux.KindStreamStart:
		r.closeSegment()
		r.dropHold()
		r.video, r.audio = trackState{}, trackState{}
		r.meta, r.extras, r.labels = nil, nil, nil
		r.videoFrames, r.audioFrames, r.audioGaveUp, r.sessionOpened = false, false, false, false
		r.videoWait, r.videoGaveUp = false, false
		r.aheadWarned = false
		r.resetTimeline()
	case remux.KindStreamEnd:
		r.closeSegment()
		r.dropHold()
		r.resetTimeline()
	case remux.KindData:
		r.handleData(m)
	case remux.KindVideo:
		r.handleMedia(trackVideo, m)
	case remux.KindAudio:
		r.handleMedia(trackAudio, m)
	}
}

func (r *recorder) resetTimeline() {
	r.tsInit = false
	r.haveT = [2]bool{}
	r.dating = mediaDating{}
	r.dropLate()
}

func (r *recorder) handleData(m *remux.Message) {
	if m.IsMetadata() {
		// Kept for the next segment's header; a mid-file onMetaData would
		// only confuse readers about duration.
		r.meta = parseMetadata(m.Payload)
		r.labels = parseTrackLabels(m.Payload)
		for i := range r.extras {
			r.labelExtra(&r.extras[i])
		}
		return
	}
	if r.seg == nil {
		return
	}
	if err := r.seg.data(m, r.lastRel); err != nil {
		r.fail(err)
	}
}

func (r *recorder) track(t int) *trackState {
	if t == trackVideo {
		return &r.video
	}
	return &r.audio
}

// expect reports whether a new segment would carry track t.
func (r *recorder) expect(t int) bool {
	ts := r.track(t)
	if r.mp4() {
		return ts.cfg != nil
	}
	if t == trackVideo {
		return ts.hdr != nil || r.videoFrames
	}
	return ts.hdr != nil || r.audioFrames
}

// mismatch reports whether the open segment's tracks differ from what the
// stream now carries (a track appeared; FLV tolerates a late audio track).
func (r *recorder) mismatch() bool {
	if r.seg.hasTrack(trackVideo) != r.expect(trackVideo) {
		return true
	}
	return r.mp4() && r.seg.hasTrack(trackAudio) != r.expect(trackAudio)
}

func (r *recorder) handleHeader(t int, m *remux.Message, p payload) {
	ts := r.track(t)
	if bytes.Equal(ts.hdr, m.Payload) {
		return // repeated, unchanged
	}
	changed := ts.hdr != nil
	ts.hdr, ts.frame = append(ts.hdr[:0:0], m.Payload...), m.Frame
	// The MP4 description; FLV uses it for onMetaData fields only.
	var err error
	switch {
	case t == trackVideo && r.mp4() && inbandCodec(p.codec) && lacksParamSets(p.codec, p.data):
		// The parameter sets come in the keyframes (inbandVideo). A header
		// repeated without them keeps the description taken from there.
		keep := ts.inband && ts.cfg != nil && ts.codec == p.codec
		ts.inband, ts.nalLen = true, recordNALLen(p.codec, p.data)
		if keep {
			changed = false
		} else {
			ts.cfg = nil
			r.log.Info("video sequence header without parameter sets; waiting for a keyframe carrying them",
				"codec", p.codec.String())
		}
	case t == trackVideo:
		ts.inband = false
		ts.cfg, err = newVideoConfig(p.codec, p.data)
	case describedByFrame(p.codec) && len(p.data) == 0:
		// AC-3, E-AC-3: an empty sequence start; the first frame describes
		// the track, and one described already stays as it is.
		if ts.codec == p.codec && ts.cfg != nil {
			changed = false
		} else {
			ts.cfg = nil
		}
	default:
		ts.cfg, err = newAudioConfig(p.codec, p.data)
	}
	ts.codec = p.codec
	if err != nil && r.mp4() {
		r.warnOnce("cfg"+p.codec.String(), "track not recorded", "codec", p.codec.String(), "err", err)
	}
	if changed && t == trackVideo {
		r.dropHold()
	}
	if r.seg == nil {
		return
	}
	if changed || r.mismatch() {
		r.log.Info("codec configuration changed, starting a new segment", "track", trackName(t))
		r.closeSegment()
		return
	}
	if err := r.seg.header(t, m, r.lastRel); err != nil {
		r.fail(err)
	}
}

func trackName(t int) string {
	switch t {
	case trackVideo:
		return "video"
	case trackAudio:
		return "audio"
	}
	return "multitrack"
}

func (r *recorder) unwrap(ts uint32) int64 {
	if !r.tsInit {
		r.tsInit = true
		r.last32 = ts
		r.ext = int64(ts)
		return r.ext
	}
	r.ext += int64(int32(ts - r.last32))
	r.last32 = ts
	return r.ext
}

func (r *recorder) handleMedia(t int, m *remux.Message) {
	if r.mp4() && m.Frame.Multitrack != remux.NotMultitrack {
		r.handleTracks(m)
		return
	}
	p := messagePayload(m)
	switch p.kind {
	case pkSkip:
		return
	case pkConfig:
		r.handleHeader(t, m, p)
		return
	case pkPass:
		if r.seg != nil && r.tsInit {
			// Timed like its neighbours, without moving the timeline.
			rel := max(0, r.ext+int64(int32(m.Timestamp-r.last32))-r.base)
			if err := r.seg.header(t, m, rel); err != nil {
				r.fail(err)
			}
		}
		return
	}
	if t == trackVideo {
		r.videoFrames = true
		if r.mp4() && (r.video.inband || r.video.hdr == nil) && inbandCodec(p.codec) {
			if !r.video.inband {
				// No sequence header at all: the keyframes must describe the track.
				r.video.inband, r.video.codec, r.video.nalLen = true, p.codec, 4
			}
			if p.key {
				r.inbandVideo(p)
			}
		}
		if p.key && r.mp4() {
			r.video.cfg.sizeFromVP9Keyframe(p.data) // before a segment opens on it
		}
	} else {
		r.audioFrames = true
		if r.mp4() && describedByFrame(p.codec) && (r.audio.cfg == nil || r.audio.codec != p.codec) {
			// MP3 has no sequence header, AC-3's is empty: describe the
			// track from its first frame (keeping a header of the codec).
			if cfg, err := newAudioConfig(p.codec, p.data); err == nil {
				if r.audio.codec != p.codec {
					r.audio = trackState{}
				}
				r.audio.codec, r.audio.cfg = p.codec, cfg
			} else {
				r.warnOnce("cfg"+p.codec.String(), "track not recorded", "codec", p.codec.String(), "err", err)
			}
		}
	}
	if r.seg != nil && r.mismatch() {
		r.log.Info("track appeared, starting a new segment", "track", trackName(t))
		r.closeSegment()
	}

	ext := r.unwrap(m.Timestamp)
	if r.haveT[t] {
		d := ext - r.lastT[t]
		switch {
		case d < -backJump && r.stepsAlone(t, d):
			r.holdLate(t, m, p, ext, d) // late media of recorded time (late.go)
			return
		case d < -backJump || ext-r.lastAny > fwdJump:
			r.stats.Discontinuities.Add(1)
			r.log.Warn("timestamp discontinuity, starting a new segment",
				"track", trackName(t), "jump_ms", d)
			r.closeSegment()
			r.dropHold()
			r.haveT = [2]bool{}
			r.dating = mediaDating{}
			// A track that stepped back first is on the new timeline too.
			for _, h := range r.takeLate() {
				r.onTimeline(h.t, h.m, h.p, h.ext)
				h.m.Release()
			}
		case r.late[t] && d <= 0:
			r.holdLate(t, m, p, ext, d) // still behind what it recorded
			return
		case d < 0:
			ext = r.lastT[t] // small step back: keep DTS monotonic
		case r.late[t]:
			r.endLate(t)
		}
	}
	r.onTimeline(t, m, p, ext)
}

// onTimeline records a frame at unwrapped time ext, which moves the
// track's and the stream's last times.
func (r *recorder) onTimeline(t int, m *remux.Message, p payload, ext int64) {
	if !r.haveT[t] || ext > r.lastT[t] {
		r.lastT[t] = ext
	}
	if !r.haveT[trackVideo] && !r.haveT[trackAudio] || ext > r.lastAny {
		r.lastAny = ext
	}
	r.haveT[t] = true

	r.frame(t, m, p, ext)
}

// frame writes one media frame at unwrapped time ext: hold it while it
// leads the video and a cut is due (lead.go), cut if due, open a segment
// if none, write.
func (r *recorder) frame(t int, m *remux.Message, p payload, ext int64) {
	if r.hold != nil {
		r.holdFrame(t, m, p, ext)
		return
	}
	if len(r.ahead) > 0 || t != trackVideo && r.leads(t, ext) {
		if t != trackVideo {
			r.holdAhead(t, m, p, ext) // the video is behind and a cut is due (lead.go)
			return
		}
		r.releaseAhead(ext)
	}
	if r.seg != nil && r.boundary(t, p) && r.cutDue(ext) {
		if len(r.ahead) > 0 {
			r.cutAhead(t, m, p, ext)
			return
		}
		r.closeSegment()
	}
	if r.seg == nil {
		if !r.canOpen(t, p, ext) {
			r.stats.Dropped.Add(1)
			return
		}
		if r.awaitAudio() > 0 {
			r.holdFrame(t, m, p, ext)
			return
		}
		if !r.openSegment(ext, m.Arrived) {
			r.stats.Dropped.Add(1)
			return
		}
	}
	r.write(t, m, p, ext)
}

// write writes a frame of the default tracks into the open segment.
func (r *recorder) write(t int, m *remux.Message, p payload, ext int64) {
	rel := ext - r.base
	if r.seg == nil || rel < 0 || !r.seg.hasTrack(t) || (r.mp4() && p.codec != r.track(t).codec) {
		r.stats.Dropped.Add(1)
		return
	}
	if err := r.seg.media(t, m, p, rel); err != nil {
		r.fail(err)
		return
	}
	r.lastRel = rel
	r.stats.Messages.Add(1)
}

// heldFrame is a frame kept while a new MP4 segment waits for its audio
// track's description.
type heldFrame struct {
	t   int
	m   *remux.Message
	p   payload
	ext int64
}

const holdMaxBytes = 4 << 20

// awaitAudio returns how long (ms of media) an MP4 segment about to open
// should wait for the audio track's description, 0 for not at all: up to
// 1 s when the publisher's metadata announces audio (MP3 has no sequence
// header at all, its first frame describes it), and 300 ms at the start of
// a session in case the audio header trails the first video frame. Without
// the wait the segment would be cut again at once when audio shows up.
func (r *recorder) awaitAudio() int64 {
	if !r.mp4() || r.audio.cfg != nil || r.audioGaveUp {
		return 0
	}
	if r.metaHas("audiocodecid") {
		return 1000
	}
	if !r.sessionOpened {
		return 300
	}
	return 0
}

// awaitVideoMs is how much audio (ms of media) a session whose metadata
// announces video may start with before the recording gives up waiting
// for the video and opens an audio-only segment.
const awaitVideoMs = 3000

// awaitVideo reports whether a segment about to open on audio at time ext
// should rather wait for the video track, which the publisher's metadata
// announces but has not sent yet (a camera's audio often comes first).
// Without the wait the segment would be cut again at once when video shows
// up. The first call of a session starts the clock.
func (r *recorder) awaitVideo(ext int64) bool {
	if r.videoGaveUp || !r.metaHas("videocodecid") {
		return false
	}
	if (r.video.hdr != nil || r.videoFrames) && !r.videoPending() {
		return false
	}
	if !r.videoWait {
		r.videoWait, r.videoWaitFrom = true, ext
	}
	if ext-r.videoWaitFrom < awaitVideoMs {
		return true
	}
	r.videoGaveUp = true
	r.log.Debug("no video arrived though the metadata announced it; recording audio only")
	return false
}

// videoPending reports whether the video description is still to come from
// the parameter sets of a keyframe.
func (r *recorder) videoPending() bool {
	return r.mp4() && r.video.inband && r.video.cfg == nil
}

func (r *recorder) metaHas(key string) bool {
	for _, p := range r.meta {
		if p.key == key {
			return true
		}
	}
	return false
}

// holdFrame keeps the frame (retained) until the audio description arrives
// or the wait is over, then opens the segment and replays.
func (r *recorder) holdFrame(t int, m *remux.Message, p payload, ext int64) {
	r.hold = append(r.hold, heldFrame{t, m.Retain(), p, ext})
	r.holdBytes += len(m.Payload)
	if r.audio.cfg == nil && ext-r.hold[0].ext < r.awaitAudio() && r.holdBytes < holdMaxBytes {
		return
	}
	r.flushHold()
}

// flushHold opens the segment with what is known and writes the held frames.
func (r *recorder) flushHold() {
	if r.hold == nil {
		return
	}
	if r.audio.cfg == nil {
		r.audioGaveUp = true
		r.log.Debug("no audio description arrived; recording without audio")
	}
	held := r.hold
	r.hold = nil
	r.holdBytes = 0
	for _, h := range held {
		r.frame(h.t, h.m, h.p, h.ext)
		h.m.Release()
	}
}

// shutdown writes what is held and closes the segment.
func (r *recorder) shutdown() {
	r.flushHold()
	r.closeSegment()
	r.dropLate()
}

// dropHold releases held frames (session reset, discontinuity, new config).
func (r *recorder) dropHold() {
	for _, h := range r.hold {
		h.m.Release()
		r.stats.Dropped.Add(1)
	}
	r.hold = nil
	r.holdBytes = 0
}

// boundary reports whether a segment may start at this frame.
func (r *recorder) boundary(t int, p payload) bool {
	if r.seg.hasTrack(trackVideo) {
		return t == trackVideo && p.key
	}
	return t == trackAudio
}

func (r *recorder) canOpen(t int, p payload, ext int64) bool {
	if r.paused {
		if r.cfg.Clock.Elapsed() < r.pauseUntil {
			return false
		}
	}
	if r.expect(trackVideo) || r.awaitVideo(ext) {
		if t != trackVideo || !p.key {
			return false
		}
	} else if t != trackAudio || !r.expect(trackAudio) {
		return false
	}
	if r.mp4() {
		ts := r.track(t)
		if ts.cfg == nil || ts.codec != p.codec {
			if (p.codec != 0 || t == trackVideo) && !(t == trackVideo && r.videoPending()) {
				r.warnOnce("codec"+trackName(t)+p.codec.String(), "frames not recordable in MP4",
					"track", trackName(t), "codec", p.codec.String())
			}
			return false
		}
	}
	return true
}

func (r *recorder) openSegment(ext int64, arrived time.Time) (opened bool) {
	now, elapsed, origin := readClock(r.cfg.Clock)
	// The segment starts when its first frame reached the hub: a recorder
	// that was kept from running (a starved box) would otherwise name it
	// late by its lag, and the segment before it would overlap it.
	lag := arrivalLag(arrived)
	start := r.dating.start(ext, elapsed-lag)
	lag = elapsed - start // how long ago the segment started, by the dating
	now, elapsed = now.Add(-lag), start
	path, f, err := createSegmentFile(&r.cfg, r.app, r.stream, now)
	if err != nil {
		r.fail(fmt.Errorf("create segment: %w", err))
		return false
	}
	// The marker says "left open" to the next start's Recover until the
	// segment is closed; it is durable before any media is written.
	if err = createMarker(path, now); err != nil {
		f.Close()
		os.Remove(path)
		r.fail(fmt.Errorf("create segment: %w", err))
		return false
	}
	// On a clock the kernel says is unsynchronised, what a later run
	// needs to check the name (bootfix.go).
	if err := noteBootOpen(&r.cfg, r.app, r.stream, path, now, lag); err != nil {
		r.warnOnce("bootjournal", "segment names of this run cannot be checked after a restart", "err", err)
	}
	// From here on the file is announced: whatever happens (a header write
	// error, a panic), a file that does not become the open segment is
	// removed and reported done, so every OnSegmentOpen gets its
	// OnSegmentDone.
	defer func() {
		if opened {
			return
		}
		f.Close()
		os.Remove(path)
		removeMarker(path)
		cause := err
		if cause == nil {
			cause = errors.New("segment not opened")
		}
		r.report(Segment{Path: path, OpenPath: path, App: r.app, Stream: r.stream, Start: now, Format: r.cfg.Format,
			Err: fmt.Errorf("write segment header: %w", cause)}, nil)
	}()
	if cb := r.cfg.OnSegmentOpen; cb != nil {
		cb(path)
	}
	var video, audio *trackState
	if r.expect(trackVideo) {
		video = &r.video
	}
	if r.expect(trackAudio) {
		audio = &r.audio
	}
	r.bw.Reset(f)
	wp := writerParams{f: f, bw: r.bw, video: video, audio: audio, extras: r.extras, meta: r.meta, cfg: &r.cfg, stats: r.stats, log: r.log}
	var w segmentWriter
	switch r.cfg.Format {
	case FormatFLV:
		w, err = newFLVWriter(wp)
	default:
		w, err = newFMP4Writer(wp, path)
	}
	if err != nil {
		r.fail(fmt.Errorf("write segment header: %w", err))
		return false
	}
	r.seg = w
	r.sessionOpened = true
	r.base = ext
	r.lastRel = 0
	r.reported = 0
	r.segInfo = Segment{Path: path, OpenPath: path, App: r.app, Stream: r.stream, Start: now, Format: r.cfg.Format}
	r.segOpened, r.segOrigin, r.segStepped = elapsed, origin, false
	if r.paused {
		r.log.Info("recording resumed")
	}
	r.paused = false
	r.stats.Paused.Store(false)
	r.stats.Segments.Add(1)
	r.lastSync = elapsed + lag
	r.log.Debug("segment opened", "path", path, "start", now.Format(time.RFC3339Nano))
	return true
}

// fail handles a write error: log, count, drop the segment, pause.
func (r *recorder) fail(err error) {
	r.stats.WriteErrors.Add(1)
	r.log.Error("recording paused after a write error", "err", err, "retry_in", retryInterval)
	if r.seg != nil {
		r.seg.close(true)
		r.finish(err)
	}
	r.paused = true
	r.stats.Paused.Store(true)
	r.pauseUntil = r.cfg.Clock.Elapsed() + retryInterval
}

// closeSegment closes the open segment cleanly: the file complete and
// fsynced, renamed if the wall clock stepped while it was open, then its
// open marker removed. A segment that fails to close keeps its marker:
// the next start's Recover repairs it.
func (r *recorder) closeSegment() {
	r.closeAhead()
	if r.seg == nil {
		return
	}
	r.checkClock()
	if err := r.seg.close(false); err != nil {
		r.fail(fmt.Errorf("close segment: %w", err))
		return
	}
	if r.segStepped {
		r.renameAfterStep()
	}
	if err := removeMarker(r.segInfo.OpenPath); err != nil {
		r.log.Warn("segment closed but its open marker stays; the next start will check it", "path", r.segInfo.Path, "err", err)
	}
	r.finish(nil)
}

// finish reports the segment that was just closed.
func (r *recorder) finish(err error) {
	s := r.segInfo
	s.Duration = time.Duration(r.seg.duration()) * time.Millisecond
	s.Bytes = r.seg.size()
	s.Err = err
	r.seg = nil
	r.stats.Bytes.Add(s.Bytes - r.reported)
	r.reported = 0
	var t *trackedSegment
	if cs, ok := r.cfg.Clock.(*ClockSteps); ok && s.Bytes > 0 {
		// Should the wall clock step later in this run, the segment is
		// renamed to its true start, or that is written beside it
		// (clockfix.go).
		if r.namer == nil {
			r.namer = &segNamer{cfg: Config{Dir: r.cfg.Dir, PathTemplate: r.cfg.PathTemplate, Format: r.cfg.Format, Journal: r.cfg.Journal}, app: r.app, stream: r.stream}
		}
		t = cs.track(s.Path, s.Start, r.segOpened, r.namer)
	}
	r.report(s, t)
}

// report calls OnSegmentDone in its own goroutine; Record waits for it.
// The "segment closed" line is logged once the callback returned, so a
// reader of the log knows the owner's bookkeeping (index, open set) has
// the segment too: one line per segment, after everything about it.
func (r *recorder) report(s Segment, t *trackedSegment) {
	logClosed := func() {
		if s.Err == nil {
			r.log.Info("segment closed", "path", s.Path, "duration", s.Duration, "bytes", s.Bytes)
		}
	}
	cb := r.cfg.OnSegmentDone
	if cb == nil {
		markReported(t)
		logClosed()
		return
	}
	r.callbacks.Add(1)
	go func() {
		defer r.callbacks.Done()
		cb(s)
		markReported(t)
		logClosed()
	}()
}

// markReported notes that t's owner has its path: from now on a step of
// the wall clock may rename it.
func markReported(t *trackedSegment) {
	if t != nil {
		t.reported.Store(true)
	}
}

// maybeSync flushes and fsyncs the open segment on schedule.
func (r *recorder) maybeSync(force bool) {
	if r.seg == nil {
		return
	}
	now := r.cfg.Clock.Elapsed()
	if !force && now-r.lastSync < r.cfg.SyncEvery {
		return
	}
	r.lastSync = now
	r.checkClock()
	if err := r.seg.sync(); err != nil {
		r.fail(fmt.Errorf("sync segment: %w", err))
		return
	}
	n := r.seg.size()
	r.stats.Bytes.Add(n - r.reported)
	r.reported = n
}

// writerParams is what a segment writer starts from.
type writerParams struct {
	f            file
	bw           *growWriter  // already Reset onto f
	video, audio *trackState  // nil when the segment has no such track
	extras       []extraTrack // multitrack tracks, MP4 only; those without a cfg are not recorded
	meta         []metaProp
	cfg          *Config
	stats        *Stats
	log          *slog.Logger
}

// syncFile flushes bw and fsyncs f, reporting a disk slower than the stream.
func syncFile(bw *growWriter, f file, stats *Stats, log *slog.Logger) error {
	t0 := time.Now()
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if d := time.Since(t0); d > slowSync {
		stats.SlowSyncs.Add(1)
		log.Warn("slow disk: flush and fsync took too long", "took", d)
	}
	return nil
}
