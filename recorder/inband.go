package recorder

import (
	"bytes"

	"github.com/tapedeck/tapedeck/remux"
)

// In-band parameter sets. Some publishers send an AVC/HEVC sequence header
// that is empty or carries no parameter sets (ffmpeg's tee muxer, encoders
// run without a global header, some hardware encoders), or none at all:
// their SPS/PPS (and VPS) travel only inside the keyframes. FLV records such
// a stream as it comes; an MP4 sample entry needs them in its avcC/hvcC, so
// the recorder builds that record from the first keyframe carrying them,
// and starts a new segment when a later keyframe carries different ones (a
// resolution change). The parameter sets stay in the samples too.

// maxInbandPS caps the parameter sets of one kind taken from a keyframe.
const maxInbandPS = 4

// inbandCodec reports whether codec c can be described from in-band
// parameter sets.
func inbandCodec(c remux.FourCC) bool { return c == remux.CodecAVC || c == remux.CodecHEVC }

// lacksParamSets reports whether an AVC/HEVC configuration record (the
// body of a sequence header) cannot describe the track because it is
// empty, malformed or without parameter sets.
func lacksParamSets(c remux.FourCC, rec []byte) bool {
	if _, err := newVideoConfig(c, rec); err != nil {
		return true
	}
	switch c {
	case remux.CodecAVC:
		return remux.AVCRecordSPS(rec) == nil || remux.AVCRecordPPS(rec) == nil
	case remux.CodecHEVC:
		return remux.HEVCRecordNALU(rec, remux.HEVCNALVPS) == nil || remux.HEVCRecordNALU(rec, remux.HEVCNALSPS) == nil ||
			remux.HEVCRecordNALU(rec, remux.HEVCNALPPS) == nil
	}
	return false
}

// recordNALLen returns the NAL unit length size a configuration record
// declares, 4 (what RTMP publishers use) when it declares none.
func recordNALLen(c remux.FourCC, rec []byte) int {
	n := 0
	switch c {
	case remux.CodecAVC:
		n = remux.AVCRecordNALLength(rec)
	case remux.CodecHEVC:
		n = remux.HEVCRecordNALLength(rec)
	}
	if n == 0 {
		return 4
	}
	return n
}

// inbandVideo looks for parameter sets in video keyframe p when the video
// description is to come from them, and (re)describes the track when they
// are new. A change closes the open segment, like a changed sequence header.
func (r *recorder) inbandVideo(p payload) {
	v := &r.video
	if v.codec != p.codec {
		return // frames of another codec than announced: dropped as before
	}
	rec, ok := appendInbandRecord(r.inbandRec[:0], p.codec, p.data, v.nalLen, &r.inbandRBSP)
	r.inbandRec = rec
	if !ok {
		if v.cfg == nil {
			r.warnOnce("inband-video", "frames not recordable in MP4: video keyframe without parameter sets, "+
				"and the sequence header has none either; video is dropped until a keyframe carries them",
				"track", "video", "codec", p.codec.String())
		}
		return // keep the description taken from an earlier keyframe
	}
	if v.cfg != nil && bytes.Equal(v.cfg.record, rec) {
		return
	}
	cfg, err := newVideoConfig(p.codec, rec)
	if err != nil {
		return
	}
	changed := v.cfg != nil
	v.cfg = cfg
	if !changed {
		r.log.Info("video described from the parameter sets in its keyframes (the sequence header has none)",
			"codec", p.codec.String(), "width", cfg.width, "height", cfg.height)
		return // a segment open without video is cut by the caller (mismatch)
	}
	r.dropHold()
	if r.seg != nil {
		r.log.Info("in-band parameter sets changed, starting a new segment", "track", "video",
			"width", cfg.width, "height", cfg.height)
		r.closeSegment()
	}
}

// appendInbandRecord appends to b the configuration record (avcC or hvcC)
// built from the parameter sets at the start of frame, whose NAL units have
// nalLen-byte lengths. ok is false when the frame lacks a kind of parameter
// set. rbsp is scratch space. It allocates only to grow b and rbsp.
func appendInbandRecord(b []byte, c remux.FourCC, frame []byte, nalLen int, rbsp *[]byte) (_ []byte, ok bool) {
	hevc := c == remux.CodecHEVC
	// ps[0..2]: AVC SPS, PPS; HEVC VPS, SPS, PPS.
	var ps [3][maxInbandPS][]byte
	var n [3]int
	for p := 0; p+nalLen <= len(frame); {
		var l int
		for i := range nalLen {
			l = l<<8 | int(frame[p+i])
		}
		p += nalLen
		if l == 0 || l > len(frame)-p {
			break
		}
		nal := frame[p : p+l]
		p += l
		k := -1
		if hevc {
			if l < 3 {
				continue
			}
			typ := (nal[0] >> 1) & 0x3F
			if typ < 32 {
				break // a slice: parameter sets come before it
			}
			if typ >= 32 && typ <= 34 {
				k = int(typ - 32)
			}
		} else {
			if l < 2 {
				continue
			}
			switch nal[0] & 0x1F {
			case 1, 2, 3, 4, 5:
				k = -2 // a slice
			case 7:
				k = 0
			case 8:
				k = 1
			}
			if k == -2 {
				break
			}
		}
		if k >= 0 && n[k] < maxInbandPS && len(nal) <= 0xFFFF {
			ps[k][n[k]] = nal
			n[k]++
		}
	}
	if hevc {
		if n[0] == 0 || n[1] == 0 || n[2] == 0 {
			return b, false
		}
		return remux.AppendHEVCRecord(b, ps[0][:n[0]], ps[1][:n[1]], ps[2][:n[2]], nalLen, rbsp)
	}
	if n[0] == 0 || n[1] == 0 || len(ps[0][0]) < 4 {
		return b, false
	}
	return remux.AppendAVCRecord(b, ps[0][:n[0]], ps[1][:n[1]], nalLen, rbsp)
}
