package vod

import (
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// ErrCodecNotAnnounced is wrapped by the error of a play refused because
// the recording's video or audio reaches a player only over Enhanced RTMP
// (HEVC, AV1, VP9, Opus, ...) and the player did not announce that codec in
// its connect (Options.Supports). It is rtmp.ErrCodecNotAnnounced: live
// play refuses the same way.
var ErrCodecNotAnnounced = rtmp.ErrCodecNotAnnounced

// checkCodecs refuses a play of rel whose video or audio (info) needs
// Enhanced RTMP for a codec the player did not announce.
func checkCodecs(rel string, info remux.FileInfo, supports func(remux.FourCC) bool) error {
	return rtmp.CheckAnnounced("recording "+rel, info.VideoCodec, info.AudioCodec, supports)
}

// deliverable returns m in the form the player gets, or nil (m released)
// when it must not be sent: a message that needs Enhanced RTMP (an
// ExHeader, or a codec only Enhanced RTMP carries) for a codec the player
// did not announce. Pre-standard HEVC (legacy header with CodecID 12,
// recorded as a publisher sent it) is rewritten to the Enhanced RTMP form
// players decode (hvc1 SequenceStart / CodedFrames with CTS).
func (s *Session) deliverable(m *remux.Message) *remux.Message {
	if !rtmp.NeedsEnhanced(m) {
		return m
	}
	if !s.announced(m.Frame.Codec) {
		m.Release()
		return nil
	}
	if m.Kind == remux.KindVideo && !m.Frame.Enhanced && m.Frame.Codec == remux.CodecHEVC {
		return remux.EnhanceLegacyHEVC(m, pool)
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
