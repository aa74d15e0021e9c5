package rtmp

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// player writes one Subscription to a playing client. Each wake-up drains
// everything the subscription has into one vectored write: chunk headers
// from a reusable scratch buffer, payloads referenced in the shared
// messages. In the steady state it neither copies payloads nor allocates.
type player struct {
	// What the shared writer touches per message (directStep) comes
	// first, in two cache lines: its pass over a hundred players runs
	// between writev calls that evict them, so each line is a miss.
	c        *conn
	fan      FanoutSubscription // see "The shared writer" below
	raw      rawWriter
	batch    []*remux.Message
	stopping atomic.Bool
	noAudio  atomic.Bool
	noVideo  atomic.Bool
	fanSlot  uint8 // the shared writer's group slot (fanout.go), set at join
	streamID uint32

	// limit ends the play after this much media time (ms), from the play
	// command's duration argument (librtmp's --stop); 0 = no limit.
	limit uint32

	// Timestamps are rebased so every player starts near 0 and never sees
	// time go backwards when the publisher restarts.
	base     uint32
	lastOut  uint32
	haveBase bool
	finished bool
	// isVOD is vod != nil, read per message where vod is not.
	isVOD bool

	// A publisher that left may come back within the stream's republish
	// grace, so the client is told nothing until the subscription ends for
	// good: ffmpeg (and VLC, through libavformat) and librtmp end the play
	// at NetStream.Play.UnpublishNotify, GStreamer's rtmp2src at the
	// StreamEOF event. unpublished says the UnpublishNotify is owed.
	unpublished bool
	// resume is set at a republish: the new session's first media message
	// goes out at the last timestamp sent plus the wall-clock time since
	// (mediaAt, up to maxResumeGap), so a player's clock and the stream's
	// stay together across a short absence.
	resume     bool
	wroteMedia bool // the current write carries media
	splice     bool // after a republish, until its first frame

	tally playTally // for the "play ended" line (playlog.go)

	// vod is set when sub plays a recording: timestamps stay absolute and
	// the subscription's markers become VOD status messages.
	vod VODSubscription

	log      *slog.Logger // its stream's (netStream.logger)
	sub      Subscription
	done     chan struct{}
	bufferMs atomic.Uint32 // client's SetBufferLength

	vb vecBuilder

	mediaAt time.Time // start of the last write that carried media
	// sent holds the onMetaData and track-0 sequence headers last sent.
	// A new publisher with the same settings sends the same ones: at the
	// splice they are left out, so the client sees one continuous stream
	// (a second onMetaData in rtmpdump's FLV makes ffprobe 5.1 crash, and
	// libavformat hands every repeated header to the decoder as new
	// extradata).
	sent [3][]byte // by sentMeta, sentVideoHdr, sentAudioHdr

	// The shared writer of the player's stream (fanout.go): fan is the
	// subscription when the player may use it, raw its non-blocking
	// socket writes; fw is the writer while it drives the player, and
	// handback hands the player back to its goroutine.
	fw       atomic.Pointer[streamWriter]
	handback chan handoff
}

func startPlayer(c *conn, streamID uint32, sub Subscription, duration float64, vod VODSubscription) *player {
	p := &player{c: c, log: c.log, streamID: streamID, sub: sub, done: make(chan struct{}), vod: vod, isVOD: vod != nil}
	p.tally.start = time.Now()
	if st := c.streams[streamID]; st != nil {
		p.tally.name, p.log = st.name, st.logger(c)
	}
	if duration > 0 && duration < 1<<31 {
		p.limit = uint32(duration)
	}
	p.fan, p.raw = c.srv.fanoutFor(p)
	if p.fan != nil {
		p.handback = make(chan handoff, 1)
	}
	c.srv.pacer.players.Add(1)
	c.launch(p)
	return p
}

// stop ends the player and waits for its goroutine.
func (p *player) stop() {
	p.stopping.Store(true)
	p.sub.Close()
	if w := p.fw.Load(); w != nil {
		w.remove(p) // hands it back to its goroutine, which sees the end
	}
	<-p.done
}

func (p *player) run() {
	defer close(p.done)
	defer p.logEnd()
	defer p.sub.Close()
	pacer := &p.c.srv.pacer
	defer pacer.players.Add(-1)
	poller, _ := p.sub.(Poller)
	canHold := poller != nil && p.vod == nil && pacer.fixed == 0
	var last time.Time // start of the previous write
	// With a shared writer, a player that has caught up (nothing to Poll)
	// is driven by it and this goroutine waits; the writer hands it back
	// when its socket is full, when the subscription may have ended, or
	// with what the writer does not send itself.
	useNext := p.fan == nil
	for {
		if p.vod != nil {
			if ms := p.bufferMs.Load(); ms != 0 {
				p.vod.SetBufferLength(ms)
			}
		}
		var msgs []*remux.Message
		var err error
		var h handoff
		if !useNext {
			msgs = poller.Poll(p.batch[:0])
			p.batch = msgs
			if len(msgs) == 0 {
				h = p.direct()
				msgs = h.msgs
				p.batch = msgs
			}
		}
		switch {
		case h.rest:
			// The writer began this write and the socket filled up: finish
			// it here, blocking with the write deadline.
			err = p.finishWrite()
			for i, m := range msgs {
				m.Release()
				msgs[i] = nil
			}
			if err != nil {
				if !p.stopping.Load() {
					p.tally.writeFailed(err)
				}
				p.c.close()
				return
			}
			continue
		case h.err != nil:
			if !p.stopping.Load() {
				p.tally.writeFailed(h.err)
			}
			p.c.close()
			return
		case len(msgs) == 0:
			msgs, err = p.sub.Next(p.batch[:0])
			p.batch = msgs
		}
		if err != nil {
			if !p.stopping.Load() {
				p.tally.reason = "stream ended"
				p.sendEnd()
			}
			return
		}
		if canHold && !h.unsent {
			// Too soon after the last write: hold this one for the rest of
			// the window and send what arrives meanwhile with it.
			if d := pacer.hold(last, time.Now()); d > 0 {
				time.Sleep(d)
				msgs = poller.Poll(msgs)
				p.batch = msgs
			}
		}
		p.tally.messages += uint64(len(msgs))
		start := time.Now()
		err = p.write(msgs)
		if p.wroteMedia {
			p.wroteMedia = false
			p.mediaAt = start
		}
		for i, m := range msgs {
			m.Release()
			msgs[i] = nil
		}
		p.trimBatch()
		if p.finished {
			p.tally.reason = "duration reached"
			return
		}
		if err != nil {
			if !p.stopping.Load() && !errors.Is(err, errPlayerStopped) {
				p.tally.writeFailed(err)
			}
			p.c.close()
			return
		}
		now := time.Now()
		pacer.observe(now.Sub(start))
		last = start
		// A fixed window, or one that cannot be held (a recording's
		// session cannot Poll): wait after the write; what arrives
		// meanwhile leaves in the next one. With few players the adaptive
		// window is 0 for recordings as for live streams.
		if !canHold {
			if d := pacer.pause(start, now); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// maxKeptBatch is the most message slots a player keeps between writes.
// A joining player's first batch is the GOP cache (a hundred messages or
// more, and thousands at high frame rates); steady-state batches hold a
// few, so the joining one's array is dropped rather than kept for the
// life of the play.
const maxKeptBatch = 32

// trimBatch drops the batch array after a write that needed more than
// maxKeptBatch slots; the next batches grow a small one.
func (p *player) trimBatch() {
	if cap(p.batch) > maxKeptBatch {
		p.batch = nil
	}
}

var errPlayerStopped = errors.New("player stopped")

// sendEnd tells the client the stream is gone for good and hangs up, as a
// closed live stream has nothing more to give: StreamEOF, the
// UnpublishNotify withheld through the republish grace, Play.Stop.
func (p *player) sendEnd() {
	p.c.sendUserControl(ucStreamEOF, p.streamID)
	if p.unpublished {
		p.c.sendStatus(p.streamID, "status", "NetStream.Play.UnpublishNotify", "Stream was unpublished.")
	}
	p.c.sendStatus(p.streamID, "status", "NetStream.Play.Stop", "Stopped playing.")
	p.c.close()
}

// maxResumeGap bounds the timestamp step at a republish, in ms. VLC 3.0
// wrote nothing more after a step of 4.6 s or more, and played on after
// steps up to 3.9 s (docs/grace.md); a longer absence is shortened to this.
const maxResumeGap = 2000

func (p *player) outTS(m *remux.Message) uint32 {
	if p.isVOD {
		p.lastOut = m.Timestamp
		return m.Timestamp
	}
	if !p.haveBase {
		if !m.Kind.IsMedia() || m.Frame.SequenceHeader {
			return p.lastOut
		}
		next := p.lastOut
		if p.resume {
			p.resume = false
			next += resumeGap(p.mediaAt, time.Now())
		}
		p.base = m.Timestamp - next
		p.haveBase = true
	}
	d := m.Timestamp - p.base
	if int32(d) < 0 {
		d = 0
	}
	if int32(d-p.lastOut) > 0 {
		p.lastOut = d
	}
	return d
}

// resumeGap is the timestamp step, in ms, from the last media message sent
// (at last) to the first of a new publish session (now): the time that
// passed, at least 1 ms so the new session comes strictly after, at most
// maxResumeGap.
func resumeGap(last, now time.Time) uint32 {
	if last.IsZero() {
		return 0 // nothing was sent before: start where the player is
	}
	d := now.Sub(last).Milliseconds()
	switch {
	case d < 1:
		return 1
	case d > maxResumeGap:
		return maxResumeGap
	}
	return uint32(d)
}

// Indexes of player.sent.
const (
	sentMeta = iota
	sentVideoHdr
	sentAudioHdr
)

// headerIndex says which of player.sent m is, or -1: only data messages
// and sequence headers are looked at, the rare ones.
func headerIndex(m *remux.Message) int {
	switch {
	case m.Kind == remux.KindData:
		if m.IsMetadata() {
			return sentMeta
		}
	case !m.Frame.SequenceHeader || m.Frame.Track != 0:
	case m.Kind == remux.KindVideo:
		return sentVideoHdr
	case m.Kind == remux.KindAudio:
		return sentAudioHdr
	}
	return -1
}

// write sends msgs in one vectored write.
func (p *player) write(msgs []*remux.Message) error {
	c := p.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return net.ErrClosed
	}
	p.vb.reset()
	if err := p.addLocked(msgs, nil); err != nil {
		return err
	}
	return p.flushLocked()
}

// addLocked adds the chunks of msgs to p.vb; c.wmu is held. Every
// maxWriteSegs chunks are written out on the way. With direct, the shared
// writer's, the chunks go to direct instead, without flushing: the writer
// checked that msgs fit one write (fits) and are media.
func (p *player) addLocked(msgs []*remux.Message, direct *vecBuilder) error {
	c := p.c
	flush := direct == nil
	for _, m := range msgs {
		if flush && p.vb.chunks >= maxWriteSegs {
			// Events and status messages go in whole (addRaw).
			if err := p.flushLocked(); err != nil {
				return err
			}
		}
		var csid uint32
		switch m.Kind {
		case remux.KindAudio:
			if p.noAudio.Load() {
				continue
			}
			csid = csidAudio
		case remux.KindVideo:
			if p.noVideo.Load() {
				continue
			}
			csid = csidVideo
		case remux.KindData:
			csid = csidStatus
		case remux.KindStreamEnd:
			// Withheld: the publisher may come back (see unpublished).
			p.unpublished = true
			continue
		case remux.KindStreamStart:
			// A new publish session: its timestamps start over (rebased
			// by outTS), and the media chunk streams with type-0 headers.
			p.unpublished = false
			p.haveBase = false
			p.resume = true
			p.splice = true
			for _, csid := range [...]uint32{csidAudio, csidVideo, csidStatus} {
				c.cw.streams[csid].valid = false
			}
			p.addEvent(ucStreamBegin, "NetStream.Play.PublishNotify", "Stream was published.")
			continue
		case remux.KindSeekNotify:
			p.addSeekNotify(m.Timestamp)
			continue
		case remux.KindPlayComplete:
			p.addPlayComplete(m.Timestamp)
			continue
		case remux.KindPauseNotify, remux.KindUnpauseNotify:
			p.addPauseNotify(m.Kind == remux.KindPauseNotify)
			continue
		default:
			continue
		}
		if h := headerIndex(m); h >= 0 {
			if p.splice && bytes.Equal(p.sent[h], m.Payload) {
				continue
			}
			p.sent[h] = append(p.sent[h][:0], m.Payload...)
		} else if m.Kind.IsMedia() {
			p.splice = false
		}
		ts := p.outTS(m)
		// Headers ahead of a session's first frame do not count: they go
		// out at the old timestamp, and the gap is measured to the frame.
		p.wroteMedia = p.wroteMedia || p.haveBase
		if p.limit > 0 && p.haveBase && ts > p.limit {
			// Duration reached: end this play like a finished recording.
			p.finished = true
			p.addEvent(ucStreamEOF, "NetStream.Play.Stop", "Stopped playing: duration reached.")
			break
		}
		h := Header{Type: uint8(m.Kind), StreamID: p.streamID, Timestamp: ts}
		if !flush {
			direct.add(&c.cw, csid, h, m.Payload)
		} else if err := p.vb.addFlushing(&c.cw, csid, h, m.Payload, maxWriteSegs, p.flushLocked); err != nil {
			return err
		}
	}
	return nil
}

// maxWriteSegs bounds the chunks of one vectored write. A joining player
// gets the whole GOP cache at once (a megabyte, hundreds of chunks); in
// one write, its scratch vector, and the socket's iovec array inside
// package poll, would keep that size for the life of the connection. The
// bound holds inside a message too, so those stay at 64 slices (1.8 KB)
// and 64 iovecs (1 KB) whatever the message sizes. 16 would halve them,
// but a 100 KB keyframe (25 chunks) would then leave in two writes where
// main sends it in one; a steady-state write (a frame or two and their
// audio) stays well below either.
const maxWriteSegs = 32

// flushLocked writes what was added since the last flush; c.wmu is held.
func (p *player) flushLocked() error {
	c := p.c
	if p.vb.chunks == 0 {
		return nil
	}
	c.refreshWriteDeadlineLocked()
	n, err := p.vb.writeTo(c.nc)
	c.srv.bytesOut.Add(uint64(n))
	p.tally.bytes += uint64(n)
	p.vb.reset()
	if err != nil {
		c.wclosed = true
	}
	return err
}

// addEvent queues a user control event and an onStatus in order with media.
func (p *player) addEvent(event uint16, code, desc string) {
	c := p.c
	uc := []byte{byte(event >> 8), byte(event), 0, 0, 0, 0}
	uc[2], uc[3], uc[4], uc[5] = byte(p.streamID>>24), byte(p.streamID>>16), byte(p.streamID>>8), byte(p.streamID)
	p.vb.addRaw(c.cw.appendMessage(nil, csidControl, Header{Type: typeUserControl}, uc))
	body, err := amf.AppendAMF0(nil, "onStatus", 0.0, nil, amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: code}, {Key: "description", Value: desc}})
	if err == nil {
		p.vb.addRaw(c.cw.appendMessage(nil, csidStatus, Header{Type: typeCommandAMF0, StreamID: p.streamID, Timestamp: p.lastOut}, body))
	}
}

// addUserControl queues a user control event in order with media.
func (p *player) addUserControl(event uint16) {
	uc := []byte{byte(event >> 8), byte(event), byte(p.streamID >> 24), byte(p.streamID >> 16), byte(p.streamID >> 8), byte(p.streamID)}
	p.vb.addRaw(p.c.cw.appendMessage(nil, csidControl, Header{Type: typeUserControl}, uc))
}

// addAMF queues an AMF0 command or data message on the play stream.
func (p *player) addAMF(typ uint8, ts uint32, vals ...any) {
	if body, err := amf.AppendAMF0(nil, vals...); err == nil {
		p.vb.addRaw(p.c.cw.appendMessage(nil, csidStatus, Header{Type: typ, StreamID: p.streamID, Timestamp: ts}, body))
	}
}

// addSeekNotify queues what a VOD seek tells the client: StreamEOF,
// NetStream.Seek.Notify, StreamBegin. The media chunk streams start over
// with type-0 headers, as time jumped.
func (p *player) addSeekNotify(ts uint32) {
	c := p.c
	for _, csid := range [...]uint32{csidAudio, csidVideo, csidStatus} {
		c.cw.streams[csid].valid = false
	}
	p.lastOut = ts
	p.addUserControl(ucStreamEOF)
	p.addAMF(typeCommandAMF0, ts, "onStatus", 0.0, nil, amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Seek.Notify"},
		{Key: "description", Value: "Seeking " + strconv.FormatFloat(float64(ts)/1000, 'f', 3, 64) + " s."}})
	p.addUserControl(ucStreamBegin)
}

// addPauseNotify queues what a VOD pause (or unpause) tells the client:
// StreamEOF and NetStream.Pause.Notify (StreamBegin and
// NetStream.Unpause.Notify), nginx-rtmp's order, at the last timestamp
// sent. The session marks it after the last media message before the
// pause and before the first after the unpause, so nothing of the
// recording goes out between the two.
func (p *player) addPauseNotify(paused bool) {
	event, code, desc := uint16(ucStreamBegin), "NetStream.Unpause.Notify", "Unpaused "
	if paused {
		event, code, desc = ucStreamEOF, "NetStream.Pause.Notify", "Paused "
	}
	name := p.tally.name
	p.addUserControl(event)
	p.addAMF(typeCommandAMF0, p.lastOut, "onStatus", 0.0, nil, amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: code},
		{Key: "description", Value: desc + name + "."}, {Key: "details", Value: name}})
}

// addPlayComplete queues the end of a recording: StreamEOF, onPlayStatus
// NetStream.Play.Complete, onStatus NetStream.Play.Stop (nginx-rtmp's order).
func (p *player) addPlayComplete(durMs uint32) {
	p.addUserControl(ucStreamEOF)
	p.addAMF(typeCommandAMF0, p.lastOut, "onPlayStatus", 0.0, nil, amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Play.Complete"},
		{Key: "duration", Value: float64(durMs) / 1000}, {Key: "bytes", Value: 0.0}})
	p.addAMF(typeCommandAMF0, p.lastOut, "onStatus", 0.0, nil, amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Play.Stop"},
		{Key: "description", Value: "Stopped playing."}})
}
