package pull

import (
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// rtspMetadata is the onMetaData a pulled camera stream starts with, as an
// RTMP publisher's would: it announces the tracks the camera's SDP set up,
// so that a recorder waits for the video track's first keyframe instead of
// opening an audio-only segment on the audio that comes first, and players
// (ffmpeg's FLV demuxer) know both streams before the first frame. Codec
// ids are FLV's (7 AVC, 10 AAC, 7/8 G.711 A/µ-law), H.265 the Enhanced RTMP
// FourCC.
func rtspMetadata(tracks []*rtspTrack) *remux.Message {
	props := amf.ECMAArray{}
	audio := func(id float64, rate, channels int) {
		props = append(props, amf.Property{Key: "audiocodecid", Value: id})
		if rate > 0 {
			props = append(props, amf.Property{Key: "audiosamplerate", Value: float64(rate)})
		}
		props = append(props, amf.Property{Key: "stereo", Value: channels == 2})
	}
	for _, t := range tracks {
		switch f := t.forma.(type) {
		case *format.H264:
			props = append(props, amf.Property{Key: "videocodecid", Value: 7.0})
		case *format.H265:
			props = append(props, amf.Property{Key: "videocodecid", Value: float64(remux.CodecHEVC)})
		case *format.MPEG4Audio:
			audio(10, f.ClockRate(), f.Config.ChannelCount)
		case *format.G711:
			id := 7.0 // A-law
			if f.MULaw {
				id = 8
			}
			audio(id, f.ClockRate(), max(f.ChannelCount, 1))
		}
	}
	props = append(props, amf.Property{Key: "encoder", Value: "tapedeck rtsp pull"})
	body, _ := amf.AppendAMF0(nil, "onMetaData", props)
	return remux.NewMessage(remux.KindData, 0, body)
}
