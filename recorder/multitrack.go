package recorder

import (
	"bytes"
	"strconv"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// Enhanced RTMP v2 multitrack in MP4 (enhanced-rtmp.md §5: "when recording
// to MP4 create one trak per track"). The default tracks (video and audio
// in the ordinary tag form) stay the recorder's video and audio: segments
// open and cut on their keyframes, their timeline rules apply. Every track
// carried in the Multitrack form is an extra track: a trak after them,
// described by its own sequence start, with its frames placed on the same
// timeline. FLV keeps the multitrack tags as they came and needs none of
// this.

// maxExtraTracks bounds the extra traks of a segment (and what a
// publisher can make the recorder hold); with the default video and audio
// a segment has at most maxMP4Tracks traks.
const (
	maxExtraTracks = 6
	maxMP4Tracks   = 2 + maxExtraTracks
)

// trackExtra is the index of the first extra track in the recorder's and
// the segment writers' track numbering (after trackVideo and trackAudio).
const trackExtra = 2

// extraTrack is one multitrack track of the session.
type extraTrack struct {
	kind remux.Kind
	id   uint8 // the Enhanced RTMP track id
	trackState
	lang, name string // from the onMetaData's track info map, "" if absent
}

// trackLabel is what an onMetaData's videoTrackIdInfoMap or
// audioTrackIdInfoMap says of one track that an MP4 trak can carry.
type trackLabel struct {
	kind       remux.Kind
	id         uint8
	lang, name string
}

// parseTrackLabels reads the language ("language", an ISO 639-2 code) and
// name ("name", else "title") of each track in the track info maps of an
// onMetaData body; entries without either are left out.
func parseTrackLabels(b []byte) []trackLabel {
	vals, err := amf.Decoder{MaxValues: metaMaxValues}.Decode(b)
	if err != nil || len(vals) < 2 || vals[0] != "onMetaData" {
		return nil
	}
	var out []trackLabel
	for _, p := range amf.Props(vals[1]) {
		kind := remux.KindVideo
		switch p.Key {
		case "videoTrackIdInfoMap":
		case "audioTrackIdInfoMap":
			kind = remux.KindAudio
		default:
			continue
		}
		for _, e := range amf.Props(p.Value) {
			id, err := strconv.ParseUint(e.Key, 10, 8)
			if err != nil {
				continue
			}
			l := trackLabel{kind: kind, id: uint8(id)}
			for _, f := range amf.Props(e.Value) {
				s, _ := f.Value.(string)
				switch {
				case f.Key == "language" && isLanguage(s):
					l.lang = s
				case f.Key == "name" && len(s) < metaMaxString, f.Key == "title" && l.name == "" && len(s) < metaMaxString:
					l.name = s
				}
			}
			if l.lang != "" || l.name != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// isLanguage reports whether s is an ISO 639-2/T code as mdhd packs it:
// three lower-case letters.
func isLanguage(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// extra returns the session's extra track of kind and id, adding it if
// there is room; nil when there is not.
func (r *recorder) extra(kind remux.Kind, id uint8) (int, *extraTrack) {
	for i := range r.extras {
		if x := &r.extras[i]; x.kind == kind && x.id == id {
			return i, x
		}
	}
	if len(r.extras) == maxExtraTracks {
		r.warnOnce("extras", "multitrack: more tracks than a recording keeps; the rest are not recorded in MP4",
			"max", maxExtraTracks, "kind", kind.String(), "track", id)
		return -1, nil
	}
	if r.extras == nil {
		// Room for all at once: writers hold the tracks' descriptions,
		// and the tracks never move.
		r.extras = make([]extraTrack, 0, maxExtraTracks)
	}
	r.extras = append(r.extras, extraTrack{kind: kind, id: id})
	x := &r.extras[len(r.extras)-1]
	r.labelExtra(x)
	return len(r.extras) - 1, x
}

// labelExtra sets x's language and name from the last onMetaData.
func (r *recorder) labelExtra(x *extraTrack) {
	for _, l := range r.labels {
		if l.kind == x.kind && l.id == x.id {
			x.lang, x.name = l.lang, l.name
		}
	}
}

// handleTracks records each track of a multitrack message (MP4 only).
func (r *recorder) handleTracks(m *remux.Message) {
	for f, ok := m.Frame, m.Frame.Packet != remux.PacketUnknown; ok; f, ok = f.NextTrack(m.Kind, m.Payload) {
		p := trackPayload(f, m.Payload)
		switch p.kind {
		case pkConfig:
			r.extraHeader(m.Kind, f.Track, p)
		case pkFrame:
			r.extraFrame(m, f.Track, p)
		}
	}
}

// extraHeader takes the sequence start of an extra track. A track that
// appears, or changes, while a segment is open ends that segment: the
// next one opens with every track's description.
func (r *recorder) extraHeader(kind remux.Kind, id uint8, p payload) {
	i, x := r.extra(kind, id)
	if x == nil || (x.hdr != nil && x.codec == p.codec && bytes.Equal(x.hdr, p.data)) {
		return
	}
	x.hdr, x.codec = append(x.hdr[:0:0], p.data...), p.codec
	var err error
	if kind == remux.KindVideo {
		x.cfg, err = newVideoConfig(p.codec, p.data)
	} else {
		x.cfg, err = newAudioConfig(p.codec, p.data)
	}
	if err != nil {
		x.cfg = nil
		r.warnOnce("cfg"+p.codec.String(), "track not recorded", "codec", p.codec.String(), "track", id, "err", err)
	}
	if r.seg != nil && (x.cfg != nil || r.seg.hasTrack(trackExtra+i)) {
		r.log.Info("multitrack track configured, starting a new segment", "track", trackName(trackExtra+i), "id", id, "codec", p.codec.String())
		r.closeSegment()
	}
}

// extraFrame writes a coded frame of an extra track into the open segment,
// on the default tracks' timeline. Frames before the first segment opens
// (it opens on the default video's keyframe) are not recorded.
func (r *recorder) extraFrame(m *remux.Message, id uint8, p payload) {
	i, x := r.extra(m.Kind, id)
	if x == nil || r.seg == nil || r.hold != nil || len(p.data) == 0 {
		return
	}
	r.extraAt(trackExtra+i, m, p, r.unwrap(m.Timestamp))
}

// extraAt writes the frame of extra track t at unwrapped time ext, or
// holds it while it leads the video and a cut is due (lead.go).
func (r *recorder) extraAt(t int, m *remux.Message, p payload, ext int64) {
	if len(r.ahead) > 0 || r.leads(t, ext) {
		r.holdAhead(t, m, p, ext)
		return
	}
	r.writeExtra(t, m, p, ext)
}

// writeExtra writes the frame of extra track t into the open segment.
func (r *recorder) writeExtra(t int, m *remux.Message, p payload, ext int64) {
	x := &r.extras[t-trackExtra]
	rel := ext - r.base
	if r.seg == nil || !r.seg.hasTrack(t) || p.codec != x.codec || rel < 0 {
		r.stats.Dropped.Add(1)
		return
	}
	if m.Kind == remux.KindVideo && p.key {
		x.cfg.sizeFromVP9Keyframe(p.data)
	}
	if err := r.seg.media(t, m, p, rel); err != nil {
		r.fail(err)
		return
	}
	r.stats.Messages.Add(1)
}
