package rtmp

import (
	"errors"
	"fmt"

	"github.com/tapedeck/tapedeck/remux"
)

// Players get what they announced: HEVC, AV1, VP9, Opus, FLAC, AC-3 … reach
// a player only over Enhanced RTMP, and only if its connect announced the
// codec (Caps). Live play and recordings (appliance/vod) share this.

// ErrCodecNotAnnounced is wrapped by the error of a play refused because
// the stream's video or audio reaches a player only over Enhanced RTMP and
// the player did not announce that codec in its connect. The connection
// answers it with NetStream.Play.Failed.
var ErrCodecNotAnnounced = errors.New("codec not announced by the player")

// codecNames are the names refusals use for the FourCCs.
var codecNames = map[remux.FourCC]string{
	remux.CodecAVC: "H.264", remux.CodecHEVC: "H.265", remux.CodecAV1: "AV1",
	remux.CodecVP9: "VP9", remux.CodecVP8: "VP8", remux.CodecVVC: "H.266",
	remux.CodecAAC: "AAC", remux.CodecOpus: "Opus", remux.CodecFLAC: "FLAC",
	remux.CodecAC3: "AC-3", remux.CodecEAC3: "E-AC-3", remux.CodecMP3: "MP3",
}

// CodecName is the name people know codec by ("H.265" for hvc1).
func CodecName(c remux.FourCC) string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	return c.String()
}

// EnhancedOnly reports whether a codec of kind can reach a player only in
// the Enhanced RTMP form: every video codec but H.264 (CodecID 7), every
// audio codec but AAC and MP3. Codec 0 (legacy codecs such as VP6, Speex,
// PCM, which have no FourCC) travels in the legacy form.
func EnhancedOnly(kind remux.Kind, c remux.FourCC) bool {
	if c == 0 {
		return false
	}
	if kind == remux.KindVideo {
		return c != remux.CodecAVC
	}
	return c != remux.CodecAAC && c != remux.CodecMP3
}

// CheckAnnounced refuses, with an error wrapping ErrCodecNotAnnounced that
// names what is played ("recording live/cam/a.mp4", "stream live/cam") and
// the codec, a play whose video or audio needs Enhanced RTMP for a codec
// supports says the player did not announce. A zero codec is no track.
func CheckAnnounced(what string, video, audio remux.FourCC, supports func(remux.FourCC) bool) error {
	for _, c := range [...]struct {
		kind  remux.Kind
		codec remux.FourCC
	}{{remux.KindVideo, video}, {remux.KindAudio, audio}} {
		if EnhancedOnly(c.kind, c.codec) && !supports(c.codec) {
			return fmt.Errorf("%w: %s is %s; the player did not announce Enhanced RTMP support for %s (fourCcList or %sFourCcInfoMap in its connect)",
				ErrCodecNotAnnounced, what, CodecName(c.codec), c.codec, c.kind)
		}
	}
	return nil
}

// NeedsEnhanced reports whether m reaches a player only over Enhanced RTMP:
// a media message with an ExHeader, or of a codec only Enhanced RTMP
// carries (pre-standard HEVC with CodecID 12 among them).
func NeedsEnhanced(m *remux.Message) bool {
	if !m.Kind.IsMedia() || m.Frame.Codec == 0 {
		return false
	}
	return m.Frame.Enhanced || EnhancedOnly(m.Kind, m.Frame.Codec)
}
