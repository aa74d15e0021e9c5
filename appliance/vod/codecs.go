package vod

import (
	"errors"
	"fmt"

	"github.com/tapedeck/tapedeck/remux"
)

// ErrCodecNotAnnounced is wrapped by the error of a play refused because
// the recording's video or audio reaches a player only over Enhanced RTMP
// (HEVC, AV1, VP9, Opus, ...) and the player did not announce that codec in
// its connect (Options.Supports).
var ErrCodecNotAnnounced = errors.New("codec not announced by the player")

// codecNames are the names the refusal uses for the FourCCs.
var codecNames = map[remux.FourCC]string{
	remux.CodecAVC: "H.264", remux.CodecHEVC: "H.265", remux.CodecAV1: "AV1",
	remux.CodecVP9: "VP9", remux.CodecVP8: "VP8", remux.CodecVVC: "H.266",
	remux.CodecAAC: "AAC", remux.CodecOpus: "Opus", remux.CodecFLAC: "FLAC",
	remux.CodecAC3: "AC-3", remux.CodecEAC3: "E-AC-3", remux.CodecMP3: "MP3",
}

func codecName(c remux.FourCC) string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	return c.String()
}

// enhancedOnly reports whether a codec of kind can reach a player only in
// the Enhanced RTMP form: every video codec but H.264 (CodecID 7), every
// audio codec but AAC and MP3. Codec 0 (legacy codecs such as VP6, Speex,
// PCM, which have no FourCC) travels in the legacy form.
func enhancedOnly(kind remux.Kind, c remux.FourCC) bool {
	if c == 0 {
		return false
	}
	if kind == remux.KindVideo {
		return c != remux.CodecAVC
	}
	return c != remux.CodecAAC && c != remux.CodecMP3
}

// checkCodecs refuses a play of rel whose video or audio (info) needs
// Enhanced RTMP for a codec the player did not announce.
func checkCodecs(rel string, info remux.FileInfo, supports func(remux.FourCC) bool) error {
	for _, c := range [...]struct {
		kind  remux.Kind
		codec remux.FourCC
	}{{remux.KindVideo, info.VideoCodec}, {remux.KindAudio, info.AudioCodec}} {
		if enhancedOnly(c.kind, c.codec) && !supports(c.codec) {
			return fmt.Errorf("%w: recording %s is %s; the player did not announce Enhanced RTMP support for %s (fourCcList or %sFourCcInfoMap in its connect)",
				ErrCodecNotAnnounced, rel, codecName(c.codec), c.codec, c.kind)
		}
	}
	return nil
}

// deliverable returns m in the form the player gets, or nil (m released)
// when it must not be sent: a message that needs Enhanced RTMP (an
// ExHeader, or a codec only Enhanced RTMP carries) for a codec the player
// did not announce. Pre-standard HEVC (legacy header with CodecID 12,
// recorded as a publisher sent it) is rewritten to the Enhanced RTMP form
// players decode (hvc1 SequenceStart / CodedFrames with CTS).
func (s *Session) deliverable(m *remux.Message) *remux.Message {
	if !m.Kind.IsMedia() || m.Frame.Codec == 0 {
		return m
	}
	if !m.Frame.Enhanced && !enhancedOnly(m.Kind, m.Frame.Codec) {
		return m
	}
	if !s.announced(m.Frame.Codec) {
		m.Release()
		return nil
	}
	if m.Kind == remux.KindVideo && !m.Frame.Enhanced && m.Frame.Codec == remux.CodecHEVC {
		return enhanceLegacyHEVC(m)
	}
	return m
}

// announced reports whether the player announced codec, asking
// Options.Supports (which walks the connect object) once per codec, not
// per message; a refusal is logged once.
func (s *Session) announced(codec remux.FourCC) bool {
	ok, known := s.verdicts[codec]
	if known {
		return ok
	}
	ok = s.supports(codec)
	if s.verdicts == nil {
		s.verdicts = make(map[remux.FourCC]bool, 2)
	}
	s.verdicts[codec] = ok
	if !ok {
		s.log.Warn("vod: not sending media the player did not announce Enhanced RTMP support for",
			"codec", codec.String(), "file", s.segs[max(s.cur, 0)].path)
	}
	return ok
}

// enhanceLegacyHEVC rewrites a CodecID 12 message: [frameType<<4|12,
// packetType, SI24 cts, data] becomes [0x80|frameType<<4|packetType,
// "hvc1", (cts for CodedFrames), data], from the Frame parsed when it was
// read. Packet types: sequence header → SequenceStart, NALUs →
// CodedFrames, end of sequence → SequenceEnd. Command frames and anything
// else are dropped (nil).
func enhanceLegacyHEVC(m *remux.Message) *remux.Message {
	f := m.Frame
	var pt byte
	switch f.Packet {
	case remux.PacketSequenceStart:
		pt = 0
	case remux.PacketCodedFrames:
		pt = 1
	case remux.PacketSequenceEnd:
		pt = 2
	default:
		m.Release()
		return nil
	}
	hdr := []byte{0x80 | f.FrameType<<4 | pt, 'h', 'v', 'c', '1'}
	if pt == 1 {
		hdr = append(hdr, byte(f.CTS>>16), byte(f.CTS>>8), byte(f.CTS))
	}
	data := f.Data(m.Payload)
	n := pool.Get(len(hdr) + len(data))
	copy(n.Payload[copy(n.Payload, hdr):], data)
	n.Kind, n.Timestamp = m.Kind, m.Timestamp
	n.Parse()
	m.Release()
	return n
}
