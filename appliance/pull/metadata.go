package pull

import (
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
func rtspMetadata(tracks []*track) *remux.Message {
	props := amf.ECMAArray{}
	for _, t := range tracks {
		m := &t.media
		switch m.Codec {
		case "H264":
			props = append(props, amf.Property{Key: "videocodecid", Value: 7.0})
		case "H265":
			props = append(props, amf.Property{Key: "videocodecid", Value: float64(remux.CodecHEVC)})
		case "MPEG4-GENERIC", "PCMA", "PCMU":
			id := 10.0 // AAC
			switch m.Codec {
			case "PCMA":
				id = 7
			case "PCMU":
				id = 8
			}
			props = append(props, amf.Property{Key: "audiocodecid", Value: id})
			if m.ClockRate > 0 {
				props = append(props, amf.Property{Key: "audiosamplerate", Value: float64(m.ClockRate)})
			}
			props = append(props, amf.Property{Key: "stereo", Value: m.Channels == 2})
		}
	}
	props = append(props, amf.Property{Key: "encoder", Value: "tapedeck rtsp pull"})
	body, _ := amf.AppendAMF0(nil, "onMetaData", props)
	return remux.NewMessage(remux.KindData, 0, body)
}
