package recorder

import (
	"fmt"

	"github.com/tapedeck/tapedeck/remux"
)

// Fragmenter builds fragmented MP4 in memory: an init segment (ftyp+moov)
// and moof+mdat fragments, with the same boxes, sample timing and codec
// descriptions as the recorder's fMP4 files. It is for consumers that
// serve fMP4 without writing a file (the HLS muxer); the caller decides
// where fragments end. Samples stay retained references to the shared
// messages until Fragment copies them out. Not safe for concurrent use.
type Fragmenter struct {
	tracks []*mp4Track
	byKind [2]*mp4Track
	codecs [2]remux.FourCC
	seq    uint32
}

// FragmentInfo describes a fragment Fragment appended.
type FragmentInfo struct {
	// Independent: the fragment starts with a video keyframe (or has no
	// video track).
	Independent bool
	// Start and Duration are the lead track's (video if any), in ms of
	// the timeline Add was given.
	Start, Duration int64
}

// NewFragmenter describes the tracks from a stream's sequence headers
// (either may be nil, not both). A codec MP4 cannot carry, or a header
// that does not parse, is an error naming the codec; so is an AVC/HEVC
// header without parameter sets (they would have to be taken from the
// keyframes, which only the recorder does).
func NewFragmenter(videoHdr, audioHdr *remux.Message) (*Fragmenter, error) {
	f := &Fragmenter{seq: 1}
	id := uint32(1)
	if videoHdr != nil {
		p := messagePayload(videoHdr)
		if inbandCodec(p.codec) && lacksParamSets(p.codec, p.data) {
			return nil, fmt.Errorf("video %v: sequence header without parameter sets", p.codec)
		}
		cfg, err := newVideoConfig(p.codec, p.data)
		if err != nil {
			return nil, fmt.Errorf("video %v: %w", p.codec, err)
		}
		t := &mp4Track{mp4TrackInfo: mp4TrackInfo{id: id, video: true, cfg: cfg, timescale: videoTimescale}}
		f.tracks, f.byKind[trackVideo], f.codecs[trackVideo] = append(f.tracks, t), t, p.codec
		id++
	}
	if audioHdr != nil {
		p := messagePayload(audioHdr)
		cfg, err := newAudioConfig(p.codec, p.data)
		if err != nil {
			return nil, fmt.Errorf("audio %v: %w", p.codec, err)
		}
		t := &mp4Track{mp4TrackInfo: mp4TrackInfo{id: id, cfg: cfg, timescale: cfg.sampleRate}}
		f.tracks, f.byKind[trackAudio], f.codecs[trackAudio] = append(f.tracks, t), t, p.codec
	}
	if len(f.tracks) == 0 {
		return nil, fmt.Errorf("no video or audio sequence header")
	}
	return f, nil
}

// HasVideo reports whether the fragments carry a video track.
func (f *Fragmenter) HasVideo() bool { return f.byKind[trackVideo] != nil }

// Init appends the init segment (ftyp+moov) to dst.
func (f *Fragmenter) Init(dst []byte) []byte {
	infos := make([]*mp4TrackInfo, len(f.tracks))
	for i, t := range f.tracks {
		infos[i] = &t.mp4TrackInfo
	}
	return appendInitMoov(appendFtyp(dst, true), infos)
}

// Add takes a coded frame of one of the tracks at rel ms on the caller's
// timeline; it reports false for what the fragments do not carry
// (sequence headers, metadata, another codec, multitrack). The frame is
// pending until the next one of its track gives its duration.
func (f *Fragmenter) Add(m *remux.Message, rel int64) bool {
	k := trackVideo
	switch m.Kind {
	case remux.KindVideo:
	case remux.KindAudio:
		k = trackAudio
	default:
		return false
	}
	t := f.byKind[k]
	p := messagePayload(m)
	if t == nil || p.kind != pkFrame || p.codec != f.codecs[k] || len(p.data) == 0 {
		return false
	}
	t.push(m, p, rel)
	return true
}

// Fragment appends one moof+mdat of the frames made final since the last
// call (every frame but the last of each track) to dst, copying their
// bytes and releasing the messages. ok is false, and dst unchanged, when
// there are none.
func (f *Fragmenter) Fragment(dst []byte) (_ []byte, info FragmentInfo, ok bool) {
	lead := f.tracks[0]
	total := 0
	for _, t := range f.tracks {
		total += len(t.samples)
	}
	if total == 0 {
		return dst, info, false
	}
	info.Independent = true
	if len(lead.samples) > 0 {
		first := lead.samples[0]
		info.Start = first.dts * 1000 / int64(lead.timescale)
		info.Duration = (lead.end - first.dts) * 1000 / int64(lead.timescale)
		info.Independent = !lead.video || first.key
	}
	dst, _, _ = appendMoof(dst, f.seq, f.tracks)
	for _, t := range f.tracks {
		for i := range t.samples {
			s := &t.samples[i]
			dst = append(dst, s.data...)
			s.m.Release()
			*s = sample{}
		}
		t.samples = t.samples[:0]
	}
	f.seq++
	return dst, info, true
}

// Finish makes every pending frame final (with its track's last frame
// duration), for the last fragment of a stream.
func (f *Fragmenter) Finish() { finishTracks(f.tracks) }

// Release drops every frame still held.
func (f *Fragmenter) Release() { releaseTracks(f.tracks) }
