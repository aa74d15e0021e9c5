package remux

import "encoding/binary"

// codecKeyframe reads a coded frame's own random access signal, the one a
// decoder needs to start there, rather than the tag's VideoFrameType, which
// publishers get wrong: gortmplib (MediaMTX) writes 0 on every Enhanced
// RTMP frame, so a stream of it had no keyframe at all, and players and the
// GOP cache waited for one forever.
//
//   - hvc1: an IRAP picture (NAL unit types 16 to 23: BLA, IDR, CRA);
//   - av01: a sequence header OBU and a frame whose frame_type is KEY_FRAME;
//   - vp09: an uncompressed header with frame_type KEY_FRAME and its sync code.
//
// data is the frame as Frame.Data gives it (length-prefixed NAL units with
// 4-byte lengths, as FLV and every RTMP publisher write them; AV1 OBUs in
// the low-overhead format; a VP9 frame or superframe). known is false for
// other codecs (AVC keeps its frame type: open-GOP encoders mark
// recovery-point I-frames as keyframes, and players start there) and for data that does not parse, where the caller keeps the
// frame type's word. It does not allocate: it runs on every video message.
func codecKeyframe(codec FourCC, data []byte) (key, known bool) {
	switch codec {
	case CodecHEVC:
		return hevcKeyframe(data)
	case CodecAV1:
		return av1Keyframe(data)
	case CodecVP9:
		return vp9Keyframe(data)
	}
	return false, false
}

// hevcKeyframe reports whether one of data's NAL units is an IRAP
// picture's (nal_unit_type 16..23, bits 1..6 of the first header byte,
// H.265 §7.4.2.2).
func hevcKeyframe(data []byte) (key, known bool) {
	return nalKeyframe(data, func(h byte) bool { t := (h >> 1) & 0x3F; return t >= 16 && t <= 23 })
}

// avcKeyframe reports whether one of data's NAL units is an IDR picture's
// slice (nal_unit_type 5, H.264 §7.4.1). Only for frames whose tag
// carries no frame type (isKeyframe).
func avcKeyframe(data []byte) (key, known bool) {
	return nalKeyframe(data, func(h byte) bool { return h&0x1F == 5 })
}

// nalKeyframe walks 4-byte length-prefixed NAL units and reports whether
// isKey says yes to one's first header byte; lengths that do not add up
// to data make it unknown.
func nalKeyframe(data []byte, isKey func(header byte) bool) (key, known bool) {
	if len(data) == 0 {
		return false, false
	}
	for p := 0; p < len(data); {
		if len(data)-p < 5 {
			return false, false
		}
		n := int(binary.BigEndian.Uint32(data[p:]))
		p += 4
		if n == 0 || n > len(data)-p {
			return false, false
		}
		if isKey(data[p]) {
			key = true
		}
		p += n
	}
	return key, true
}

// av1Keyframe walks a temporal unit's OBUs (AV1 §5.3): it is a keyframe
// when it carries a sequence header and a frame (or frame header) OBU of
// frame_type KEY_FRAME (§5.9.2: show_existing_frame, then frame_type,
// unless the sequence header says reduced_still_picture_header, where
// every frame is a key frame).
func av1Keyframe(data []byte) (key, known bool) {
	seqHeader, reduced, keyFrame, frame := false, false, false, false
	for p := 0; p < len(data); {
		h := data[p]
		if h&0x80 != 0 || h&0x02 == 0 { // forbidden bit, or no size field
			return false, false
		}
		n := 1
		if h&0x04 != 0 {
			n++
		}
		size, l, ok := leb128(data[min(p+n, len(data)):])
		if !ok || size > uint64(len(data)-p-n-l) {
			return false, false
		}
		payload := data[p+n+l : p+n+l+int(size)]
		switch (h >> 3) & 0x0F {
		case AV1OBUSequenceHeader:
			if len(payload) > 0 {
				seqHeader = true
				reduced = payload[0]&0x08 != 0 // seq_profile(3) still_picture(1) reduced_still_picture_header(1)
			}
		case AV1OBUFrameHeader, AV1OBUFrame:
			if !frame && len(payload) > 0 {
				frame = true
				// show_existing_frame(1) = 0, frame_type(2) = KEY_FRAME (0).
				keyFrame = reduced || payload[0]&0xE0 == 0
			}
		}
		p += n + l + int(size)
	}
	if !frame {
		return false, false
	}
	return seqHeader && keyFrame, true
}

// vp9Keyframe reads the start of a VP9 uncompressed header (VP9 §6.2):
// frame_marker 2, profile, show_existing_frame, frame_type (0 KEY_FRAME),
// show_frame, error_resilient_mode, and a key frame's sync code 49 83 42.
func vp9Keyframe(data []byte) (key, known bool) {
	r := BitReader{b: data}
	if r.U(2) != 2 {
		return false, false
	}
	profile := r.U(1) | r.U(1)<<1
	if profile == 3 {
		r.Skip(1)
	}
	if r.U(1) == 1 { // show_existing_frame: shows a decoded frame again
		return false, !r.bad
	}
	if r.U(1) != 0 { // frame_type: non-key
		return false, !r.bad
	}
	r.Skip(2) // show_frame, error_resilient_mode
	sync := r.U(24)
	if r.bad || sync != 0x498342 {
		return false, false
	}
	return true, true
}
