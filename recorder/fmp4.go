package recorder

import (
	"encoding/binary"
	"log/slog"

	"github.com/tapedeck/tapedeck/remux"
)

// fmp4Writer writes ftyp+moov (empty sample tables, mvex/trex), then one
// moof+mdat per fragment. A fragment's samples stay in memory as retained
// references to the shared message buffers (no copy) until the fragment is
// complete; it is then written as one block through the buffer, flushed
// and fsynced. A file cut at any moment is readable up to its last
// complete fragment, and memory is bounded by one fragment.
//
// gomedia's go-mp4 Movmuxer was not used for this: it wants Annex-B H.264/
// H.265 and ADTS AAC input (we hold AVCC frames and raw AAC, so every frame
// would be converted twice), builds avcC/hvcC only from in-band parameter
// sets (RTMP carries them in the sequence header; inband.go covers the
// publishers whose header lacks them), only cuts fragments at every keyframe, copies every sample into per-track buffers, needs an
// io.WriteSeeker, keeps a per-fragment index for the whole file, and has no
// AV1/VP9. The boxes we need are few (see mp4box.go).
type fmp4Writer struct {
	f     file
	bw    *growWriter
	vec   *vecWriter // writev of whole fragments; nil: through bw (writev_linux.go)
	stats *Stats
	log   *slog.Logger

	n      int64 // bytes written to the file (everything is flushed per fragment)
	tracks []*mp4Track
	byKind [2]*mp4Track
	extra  [maxExtraTracks]*mp4Track // by the recorder's extras index; nil: not in this file
	seq    uint32
	box    []byte

	fragMs       int64
	maxFragMs    int64
	maxFragBytes int
	fragStart    int64
	fragStarted  bool
	fragBytes    int
	active       bool // media written since the last sync

	prog   *progressive // FormatMP4: tables for the moov-first rewrite at close
	path   string
	closed bool
}

type mp4Track struct {
	mp4TrackInfo
	pending    sample
	hasPending bool
	samples    []sample
	lastDTS    int64
	started    bool
	lastDur    uint32
	end        int64 // DTS + duration of the last finalized sample
	prog       *progTrack
}

type sample struct {
	m    *remux.Message // retained until the fragment is written
	data []byte
	dts  int64
	cts  int32 // in track timescale
	dur  uint32
	key  bool
}

const (
	videoTimescale = 90000
	// A fragment is forced closed (even mid-GOP) past this many times the
	// fragment target or maxFragBytes, to bound memory and crash loss when
	// keyframes are rare.
	maxFragFactor = 5
	maxFragBytes  = 16 << 20
)

func newFMP4Writer(wp writerParams, path string) (*fmp4Writer, error) {
	w := &fmp4Writer{
		f: wp.f, bw: wp.bw, vec: newVecWriter(wp.f), stats: wp.stats, log: wp.log, path: path,
		seq:          1,
		fragMs:       wp.cfg.Fragment.Milliseconds(),
		maxFragBytes: maxFragBytes,
	}
	w.fragMs = max(w.fragMs, 1)
	w.maxFragMs = w.fragMs * maxFragFactor
	if wp.cfg.Format == FormatMP4 {
		w.prog = new(progressive)
	}
	id := uint32(1)
	if v := wp.video; v != nil && v.cfg != nil {
		t := &mp4Track{mp4TrackInfo: mp4TrackInfo{id: id, video: true, cfg: v.cfg, timescale: videoTimescale}}
		w.tracks = append(w.tracks, t)
		w.byKind[trackVideo] = t
		id++
	}
	if a := wp.audio; a != nil && a.cfg != nil {
		t := &mp4Track{mp4TrackInfo: mp4TrackInfo{id: id, cfg: a.cfg, timescale: a.cfg.sampleRate}}
		w.tracks = append(w.tracks, t)
		w.byKind[trackAudio] = t
		id++
	}
	for i := range wp.extras {
		x := &wp.extras[i]
		if x.cfg == nil || i >= maxExtraTracks {
			continue
		}
		info := mp4TrackInfo{id: id, video: x.kind == remux.KindVideo, cfg: x.cfg, timescale: videoTimescale, lang: x.lang, name: x.name}
		if !info.video {
			info.timescale = x.cfg.sampleRate
		}
		t := &mp4Track{mp4TrackInfo: info}
		w.tracks = append(w.tracks, t)
		w.extra[i] = t
		id++
	}
	infos := make([]*mp4TrackInfo, len(w.tracks))
	for i, t := range w.tracks {
		infos[i] = &t.mp4TrackInfo
		if w.prog != nil {
			t.prog = new(progTrack)
		}
	}
	b := appendFtyp(w.box[:0], true)
	b = appendInitMoov(b, infos)
	w.box = b
	if w.prog != nil {
		w.prog.tracks = w.tracks
	}
	nn, err := w.bw.Write(b)
	w.n += int64(nn)
	if err != nil {
		return nil, err
	}
	if err := w.bw.Flush(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *fmp4Writer) hasTrack(t int) bool { return w.track(t) != nil }

// track is the trak of the recorder's track t (trackVideo, trackAudio, or
// trackExtra and up), nil when the file has none.
func (w *fmp4Writer) track(t int) *mp4Track {
	if t < trackExtra {
		return w.byKind[t]
	}
	if t-trackExtra < len(w.extra) {
		return w.extra[t-trackExtra]
	}
	return nil
}

// dtsFor converts a segment-relative ms time to the track's timescale.
// Audio with a fixed frame size advances by exactly one frame per sample
// unless the ms timestamps drift away by more than a frame (a gap).
func (t *mp4Track) dtsFor(rel int64) int64 {
	act := rel * int64(t.timescale) / 1000
	if t.video || t.cfg.frameSamples == 0 || !t.started {
		t.started = true
		t.lastDTS = act
		return act
	}
	pred := t.lastDTS + int64(t.cfg.frameSamples)
	if d := act - pred; d > int64(t.cfg.frameSamples) || d < -int64(t.cfg.frameSamples) {
		pred = act
	}
	t.lastDTS = pred
	return pred
}

func (w *fmp4Writer) media(k int, m *remux.Message, p payload, rel int64) error {
	t := w.track(k)
	if t == nil || len(p.data) == 0 {
		return nil
	}
	w.active = true
	// The new sample is only pending: the flush below writes the
	// finalized ones, so the cut falls before it.
	w.fragBytes += t.push(m, p, rel)
	if !w.fragStarted {
		w.fragStarted = true
		w.fragStart = rel
	} else {
		el := rel - w.fragStart
		var cut bool
		if w.byKind[trackVideo] != nil {
			cut = k == trackVideo && p.key && el >= w.fragMs
		} else {
			cut = el >= w.fragMs
		}
		if cut || el >= w.maxFragMs || w.fragBytes >= w.maxFragBytes {
			if err := w.flush(); err != nil {
				return err
			}
			w.fragStart = rel
		}
	}
	return nil
}

// push makes the pending sample final, now that the next one's time rel
// tells its duration, and holds m (retained) as the new pending sample.
// It returns the size of the sample made final (0 if none).
func (t *mp4Track) push(m *remux.Message, p payload, rel int64) int {
	dts := t.dtsFor(rel)
	n := 0
	if t.hasPending {
		if dts <= t.pending.dts {
			dts = t.pending.dts + 1
			t.lastDTS = dts
		}
		t.finalize(uint32(dts - t.pending.dts))
		n = len(t.samples[len(t.samples)-1].data)
	}
	cts := int32(0)
	if t.video {
		cts = p.cts * (videoTimescale / 1000)
	}
	t.pending = sample{m: m.Retain(), data: p.data, dts: dts, cts: cts, key: p.key || !t.video}
	t.hasPending = true
	return n
}

// finalize moves the pending sample, now of known duration, to the fragment.
func (t *mp4Track) finalize(dur uint32) {
	t.pending.dur = dur
	t.lastDur = dur
	t.end = t.pending.dts + int64(dur)
	t.samples = append(t.samples, t.pending)
	t.pending = sample{}
	t.hasPending = false
}

// flush writes the finalized samples of every track as one moof+mdat,
// flushes and fsyncs.
func (w *fmp4Writer) flush() error {
	total := 0
	for _, t := range w.tracks {
		total += len(t.samples)
	}
	if total == 0 {
		return nil
	}
	b, dataStart, data := appendMoof(w.box[:0], w.seq, w.tracks)
	w.box = b

	mdatData := w.n + int64(len(b))
	if w.prog != nil {
		w.prog.addFragment(w.tracks, dataStart, mdatData, data)
	}
	if w.vec != nil {
		return w.flushVec(b)
	}
	write := func(p []byte) {
		nn, _ := w.bw.Write(p)
		w.n += int64(nn)
	}
	write(b)
	for _, t := range w.tracks {
		for i := range t.samples {
			s := &t.samples[i]
			write(s.data)
			s.m.Release()
			*s = sample{}
		}
		t.samples = t.samples[:0]
	}
	w.seq++
	w.fragBytes = 0
	return syncFile(w.bw, w.f, w.stats, w.log)
}

// flushVec is flush with one writev of the moof and the samples in place
// (after whatever the buffer holds: a new segment's ftyp+moov). A failed
// write is sticky in bw, as a buffered one is.
func (w *fmp4Writer) flushVec(moof []byte) error {
	err := w.bw.Flush()
	if err == nil {
		w.vec.add(moof)
		for _, t := range w.tracks {
			for i := range t.samples {
				w.vec.add(t.samples[i].data)
			}
		}
		var n int64
		n, err = w.vec.write()
		w.n += n
		if err != nil {
			w.bw.err = err
		}
	}
	for _, t := range w.tracks {
		for i := range t.samples {
			t.samples[i].m.Release()
			t.samples[i] = sample{}
		}
		t.samples = t.samples[:0]
	}
	w.seq++
	w.fragBytes = 0
	if err != nil {
		return err
	}
	return syncFile(w.bw, w.f, w.stats, w.log)
}

// trackOffsets holds a number per trak of a file.
type trackOffsets [maxMP4Tracks]int

// appendMoof appends the moof describing the finalized samples of tracks
// and the header of the mdat that follows it; it returns where each
// track's data starts in the mdat and the mdat's payload size. The
// recorder's files and the in-memory Fragmenter share it.
func appendMoof(b []byte, seq uint32, tracks []*mp4Track) ([]byte, trackOffsets, int) {
	b, moof := boxStart(b, "moof")
	var off int
	b, off = fullBoxStart(b, "mfhd", 0, 0)
	b = be32(b, seq)
	b = boxEnd(b, off)
	var patches, dataStart trackOffsets
	data := 0
	for i, t := range tracks {
		if len(t.samples) == 0 {
			continue
		}
		var traf int
		b, traf = boxStart(b, "traf")
		b, off = fullBoxStart(b, "tfhd", 0, 0x020000) // default-base-is-moof
		b = be32(b, t.id)
		b = boxEnd(b, off)
		b, off = fullBoxStart(b, "tfdt", 1, 0)
		b = be64(b, uint64(t.samples[0].dts))
		b = boxEnd(b, off)
		flags := uint32(0x000001 | 0x000100 | 0x000200)
		if t.video {
			flags |= 0x000400 | 0x000800
		}
		b, off = fullBoxStart(b, "trun", 1, flags)
		b = be32(b, uint32(len(t.samples)))
		patches[i] = len(b)
		b = be32(b, 0)
		dataStart[i] = data
		for _, s := range t.samples {
			b = be32(b, s.dur)
			b = be32(b, uint32(len(s.data)))
			if t.video {
				if s.key {
					b = be32(b, sampleFlagsSync)
				} else {
					b = be32(b, sampleFlagsNonSync)
				}
				b = be32(b, uint32(s.cts))
			}
			data += len(s.data)
		}
		b = boxEnd(b, off)
		b = boxEnd(b, traf)
	}
	b = boxEnd(b, moof)
	moofSize := len(b) - moof
	for i, t := range tracks {
		if len(t.samples) > 0 {
			binary.BigEndian.PutUint32(b[patches[i]:], uint32(moofSize+8+dataStart[i]))
		}
	}
	b = be32(b, uint32(8+data))
	b = append(b, "mdat"...)
	return b, dataStart, data
}

func (w *fmp4Writer) header(int, *remux.Message, int64) error { return nil }
func (w *fmp4Writer) data(*remux.Message, int64) error        { return nil }

// sync runs on the SyncEvery schedule. Fragments are fsynced as they are
// written; but when no media arrived since the last sync (the publisher
// stalled without ending), the samples already complete are written as a
// fragment now rather than held until the next keyframe.
func (w *fmp4Writer) sync() error {
	idle := !w.active
	w.active = false
	if idle {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.bw.Buffered() == 0 {
		return nil
	}
	return syncFile(w.bw, w.f, w.stats, w.log)
}

func (w *fmp4Writer) size() int64 { return w.n + int64(w.fragBytes) }

func (w *fmp4Writer) duration() int64 {
	var d int64
	for _, t := range w.tracks {
		end := t.end
		if t.hasPending {
			end = t.pending.dts + int64(t.lastDur)
		}
		d = max(d, end*1000/int64(t.timescale))
	}
	return d
}

// releaseAll drops every retained message (abort path).
func (w *fmp4Writer) releaseAll() { releaseTracks(w.tracks) }

// releaseTracks drops the messages the tracks' samples hold.
func releaseTracks(tracks []*mp4Track) {
	for _, t := range tracks {
		for i := range t.samples {
			t.samples[i].m.Release()
			t.samples[i] = sample{}
		}
		t.samples = t.samples[:0]
		if t.hasPending {
			t.pending.m.Release()
			t.pending = sample{}
			t.hasPending = false
		}
	}
}

func (w *fmp4Writer) close(abort bool) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if abort {
		w.releaseAll()
		w.f.Close()
		return nil
	}
	finishTracks(w.tracks)
	err := w.flush()
	w.releaseAll()
	if err == nil {
		err = syncFile(w.bw, w.f, w.stats, w.log)
	}
	w.bw.Reset(discard{})
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || w.prog == nil {
		return err
	}
	n, err := w.prog.rewrite(w.path, w.tracks)
	if err == nil {
		w.n = n
	}
	return err
}

// finishTracks makes each track's pending sample final, lasting as long
// as the one before it.
func finishTracks(tracks []*mp4Track) {
	for _, t := range tracks {
		if t.hasPending {
			d := t.lastDur
			if d == 0 {
				d = defaultDur(t)
			}
			t.finalize(d)
		}
	}
}

// defaultDur is the duration of a lone last sample: a frame at 25 fps, or
// one audio frame.
func defaultDur(t *mp4Track) uint32 {
	if t.video {
		return videoTimescale / 25
	}
	if t.cfg.frameSamples > 0 {
		return t.cfg.frameSamples
	}
	return t.timescale / 50
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
