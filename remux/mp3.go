package remux

import "fmt"

// MPEGAudioHeader is what tapedeck reads from an MPEG audio frame header
// (ISO/IEC 11172-3 §2.4.1.3, 13818-3, and the MPEG 2.5 extension): the
// frames of legacy FLV MP3 (SoundFormat 2, and 14 for MP3 at 8 kHz) and of
// the Enhanced RTMP .mp3 FourCC. MP3 has no sequence header; an MP4 writer
// describes the track from its first frame.
//
// Our own parser rather than mediacommon's mpeg1audio.FrameHeader, which
// (v2.9.3) refuses MPEG 2.5, the only version with 8 kHz, which FLV's
// SoundFormat 14 is, and Layer I.
type MPEGAudioHeader struct {
	Version         int    // 1, 2, or 25 for MPEG 2.5
	Layer           int    // 1, 2 or 3
	SampleRate      uint32 // Hz
	Channels        int    // 1 for mono, else 2
	SamplesPerFrame uint32 // 384 (Layer I), 1152, or 576 (Layer III of MPEG 2 and 2.5)
}

// ParseMPEGAudioHeader parses the 4-byte header at the start of b.
func ParseMPEGAudioHeader(b []byte) (MPEGAudioHeader, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return MPEGAudioHeader{}, fmt.Errorf("mpeg audio: no frame sync in % x", b[:min(len(b), 4)])
	}
	ver := (b[1] >> 3) & 3   // 0 MPEG 2.5, 1 reserved, 2 MPEG 2, 3 MPEG 1
	layer := (b[1] >> 1) & 3 // 1 Layer III, 2 Layer II, 3 Layer I, 0 reserved
	ri := (b[2] >> 2) & 3
	if ver == 1 || layer == 0 || ri == 3 {
		return MPEGAudioHeader{}, fmt.Errorf("mpeg audio: reserved version, layer or rate in % x", b[:4])
	}
	h := MPEGAudioHeader{Version: 1, Layer: 4 - int(layer), SampleRate: [3]uint32{44100, 48000, 32000}[ri], SamplesPerFrame: 1152, Channels: 2}
	switch ver {
	case 2:
		h.Version, h.SampleRate = 2, h.SampleRate/2
	case 0:
		h.Version, h.SampleRate = 25, h.SampleRate/4
	}
	switch {
	case h.Layer == 1:
		h.SamplesPerFrame = 384
	case h.Layer == 3 && h.Version != 1:
		h.SamplesPerFrame = 576
	}
	if b[3]>>6 == 3 { // channel mode: single channel
		h.Channels = 1
	}
	return h, nil
}
