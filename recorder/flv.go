package recorder

import (
	"encoding/binary"
	"log/slog"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// flvWriter writes tags as received through a large buffer.
//
// Seekability without a whole-file rewrite: the file starts with an
// onMetaData tag of fixed, reserved size (duration 0, empty keyframes index,
// then a padding string). At close the same tag is rebuilt with duration,
// filesize and the keyframes index {times, filepositions} and written over
// the reserved bytes in place (one pwrite of a few KB at offset 13). The
// index holds at most kfCap entries; beyond that it is thinned to every
// 2nd, 4th, ... keyframe, so seeking stays possible at a coarser step.
// A file cut by a crash keeps the placeholder (duration 0, no index) and
// plays from the start; recovery can patch it later.
type flvWriter struct {
	f     file
	bw    *growWriter
	stats *Stats
	log   *slog.Logger

	n        int64 // bytes written, buffered included
	hasVideo bool
	hasAudio bool

	props    []metaProp
	propIdx  map[string]int
	metaLen  int // reserved onMetaData body length
	kfCap    int
	kf       []kfEntry
	kfStride int
	kfSeen   int

	lastKeyRel, lastKeyPos int64
	last                   [2]int64 // last rel per track
	delta                  [2]int64 // last frame duration per track
	seen                   [2]bool

	hdr    [11]byte
	scr    []byte
	closed bool
}

type kfEntry struct{ rel, pos int64 }

// metaOffset is where the onMetaData tag starts: FLV header + PreviousTagSize0.
const metaOffset = 13

// Keys we manage; a publisher's values for them are dropped. (Its width,
// codec ids etc. are kept unless we know better from the sequence headers.)
var flvOwnKeys = map[string]bool{
	"duration": true, "filesize": true, "keyframes": true, "lasttimestamp": true,
	"lastkeyframetimestamp": true, "lastkeyframelocation": true, "canSeekToEnd": true,
	"hasKeyframes": true, "hasMetadata": true, "hasVideo": true, "hasAudio": true,
	"metadatacreator": true, "datasize": true, "videosize": true, "audiosize": true,
}

func newFLVWriter(wp writerParams) (*flvWriter, error) {
	w := &flvWriter{
		f: wp.f, bw: wp.bw, stats: wp.stats, log: wp.log,
		hasVideo: wp.video != nil, hasAudio: wp.audio != nil,
		propIdx:  make(map[string]int),
		kfStride: 1,
	}
	w.kfCap = int(wp.cfg.SegmentDuration/(500*time.Millisecond)) + 16
	w.kfCap = max(64, min(w.kfCap, 8192))
	w.kf = make([]kfEntry, 0, w.kfCap)

	num := func(k string, v float64) { w.addProp(metaProp{key: k, kind: metaNumber, num: v}) }
	boolean := func(k string, v bool) { w.addProp(metaProp{key: k, kind: metaBoolean, b: v}) }
	num("duration", 0)
	num("filesize", 0)
	if v := wp.video; v != nil {
		if v.cfg != nil && v.cfg.width > 0 {
			num("width", float64(v.cfg.width))
			num("height", float64(v.cfg.height))
		}
		if len(v.hdr) > 0 {
			num("videocodecid", float64(v.frame.MetadataCodecID()))
		}
	}
	if a := wp.audio; a != nil {
		if len(a.hdr) > 0 {
			num("audiocodecid", float64(a.frame.MetadataCodecID()))
		}
		if a.cfg != nil {
			num("audiosamplerate", float64(a.cfg.sampleRate))
			num("audiochannels", float64(a.cfg.channels))
			boolean("stereo", a.cfg.channels >= 2)
		}
	}
	for _, p := range wp.meta {
		if !flvOwnKeys[p.key] && p.key != "" && len(p.key) < 256 {
			if _, dup := w.propIdx[p.key]; !dup {
				w.addProp(p)
			}
		}
	}
	boolean("hasVideo", w.hasVideo)
	boolean("hasAudio", w.hasAudio)
	boolean("hasMetadata", true)
	boolean("hasKeyframes", w.hasVideo)
	num("lasttimestamp", 0)
	num("lastkeyframetimestamp", 0)
	num("lastkeyframelocation", 0)
	w.addProp(metaProp{key: "metadatacreator", kind: metaString, s: "tapedeck"})

	// Reserve room for a full index plus a minimal padding property.
	w.metaLen = len(w.encodeMeta(nil)) + w.kfCap*18 + padOverhead + 3

	var head [13]byte
	copy(head[:], "FLV\x01")
	if w.hasVideo {
		head[4] |= 0x01
	}
	if w.hasAudio {
		head[4] |= 0x04
	}
	head[8] = 9
	w.write(head[:])
	if err := w.tag(remux.KindData, 0, w.metaBody()); err != nil {
		return nil, err
	}
	if v := wp.video; v != nil && v.hdr != nil {
		w.tag(remux.KindVideo, 0, v.hdr)
	}
	if a := wp.audio; a != nil && a.hdr != nil {
		w.tag(remux.KindAudio, 0, a.hdr)
	}
	if err := w.bw.Flush(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *flvWriter) addProp(p metaProp) {
	w.propIdx[p.key] = len(w.props)
	w.props = append(w.props, p)
}

func (w *flvWriter) setNum(k string, v float64) {
	if i, ok := w.propIdx[k]; ok {
		w.props[i].num = v
	}
}

// padOverhead is the size of an empty padding property: key "_padding"
// and a strict-array header; the array holds one AMF0 null per byte of
// padding. (Strings cannot pad: ffmpeg rejects AMF strings of 256 bytes or
// more in onMetaData.)
const padOverhead = 2 + 8 + 1 + 4

// encodeMeta appends the onMetaData body without padding and end marker.
func (w *flvWriter) encodeMeta(b []byte) []byte {
	b = amf.AppendString(b, "onMetaData")
	b = amf.AppendECMAArrayStart(b, 0) // count patched by metaBody
	for _, p := range w.props {
		b = appendMetaProp(b, p)
	}
	b = amf.AppendObjectStart(amf.AppendKey(b, "keyframes"))
	b = amf.AppendStrictArrayStart(amf.AppendKey(b, "times"), uint32(len(w.kf)))
	for _, k := range w.kf {
		b = amf.AppendNumber(b, float64(k.rel)/1000)
	}
	b = amf.AppendStrictArrayStart(amf.AppendKey(b, "filepositions"), uint32(len(w.kf)))
	for _, k := range w.kf {
		b = amf.AppendNumber(b, float64(k.pos))
	}
	return amf.AppendObjectEnd(b)
}

// metaBody returns the onMetaData body padded to exactly metaLen bytes.
func (w *flvWriter) metaBody() []byte {
	b := w.encodeMeta(w.scr[:0])
	for len(b)+3+padOverhead > w.metaLen && len(w.kf) > 0 {
		// Cannot happen with a fixed property set; stay within the reserve anyway.
		w.kf = w.kf[:len(w.kf)-1]
		b = w.encodeMeta(w.scr[:0])
	}
	props := len(w.props) + 1
	if left := w.metaLen - 3 - len(b); left > 0 {
		b = amf.AppendStrictArrayStart(amf.AppendKey(b, "_padding"), uint32(left-padOverhead))
		for range left - padOverhead {
			b = amf.AppendNull(b)
		}
		props++
	}
	binary.BigEndian.PutUint32(b[13+1:], uint32(props)) // after "onMetaData" string and the array marker
	w.scr = b
	return amf.AppendObjectEnd(b)
}

func (w *flvWriter) write(b []byte) {
	n, _ := w.bw.Write(b)
	w.n += int64(n)
}

// tag writes one FLV tag; errors stick in the buffered writer.
func (w *flvWriter) tag(kind remux.Kind, rel int64, body []byte) error {
	if rel < 0 {
		rel = 0
	}
	ts := uint32(rel)
	h := w.hdr[:]
	h[0] = byte(kind)
	h[1], h[2], h[3] = byte(len(body)>>16), byte(len(body)>>8), byte(len(body))
	h[4], h[5], h[6] = byte(ts>>16), byte(ts>>8), byte(ts)
	h[7] = byte(ts>>24) & 0x7F
	h[8], h[9], h[10] = 0, 0, 0
	w.write(h)
	w.write(body)
	binary.BigEndian.PutUint32(h[:4], uint32(11+len(body)))
	w.write(h[:4])
	_, err := w.bw.Write(nil)
	return err
}

// hasTrack: a late audio track is tolerated in FLV (readers ignore the
// header flags); video decides where segments may start.
func (w *flvWriter) hasTrack(t int) bool { return t == trackAudio || w.hasVideo }

func (w *flvWriter) media(t int, m *remux.Message, p payload, rel int64) error {
	if len(m.Payload) >= 1<<24 {
		return nil // cannot be an FLV tag; RTMP never carries one this large
	}
	if w.seen[t] && rel > w.last[t] {
		w.delta[t] = rel - w.last[t]
	}
	w.last[t], w.seen[t] = rel, true
	if t == trackVideo && p.key {
		w.addKeyframe(rel, w.n)
	}
	return w.tag(m.Kind, rel, m.Payload)
}

func (w *flvWriter) addKeyframe(rel, pos int64) {
	w.lastKeyRel, w.lastKeyPos = rel, pos
	w.kfSeen++
	if (w.kfSeen-1)%w.kfStride != 0 {
		return
	}
	if len(w.kf) == w.kfCap {
		j := 0
		for i := 0; i < len(w.kf); i += 2 {
			w.kf[j] = w.kf[i]
			j++
		}
		w.kf = w.kf[:j]
		w.kfStride *= 2
		if (w.kfSeen-1)%w.kfStride != 0 {
			return
		}
	}
	w.kf = append(w.kf, kfEntry{rel, pos})
}

func (w *flvWriter) header(t int, m *remux.Message, rel int64) error {
	return w.tag(m.Kind, rel, m.Payload)
}

func (w *flvWriter) data(m *remux.Message, rel int64) error {
	if len(m.Payload) >= 1<<24 {
		return nil
	}
	return w.tag(remux.KindData, rel, m.Payload)
}

func (w *flvWriter) sync() error { return syncFile(w.bw, w.f, w.stats, w.log) }

func (w *flvWriter) size() int64 { return w.n }

func (w *flvWriter) duration() int64 {
	var d int64
	for t := range 2 {
		if w.seen[t] {
			d = max(d, w.last[t]+w.delta[t])
		}
	}
	return d
}

func (w *flvWriter) close(abort bool) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if abort {
		w.f.Close()
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.f.Close()
		return err
	}
	dur := w.duration()
	w.setNum("duration", float64(dur)/1000)
	w.setNum("filesize", float64(w.n))
	w.setNum("lasttimestamp", float64(max(w.last[0], w.last[1]))/1000)
	w.setNum("lastkeyframetimestamp", float64(w.lastKeyRel)/1000)
	w.setNum("lastkeyframelocation", float64(w.lastKeyPos))
	if _, err := w.f.WriteAt(w.metaBody(), metaOffset+11); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	w.bw.Reset(discard{})
	return w.f.Close()
}
