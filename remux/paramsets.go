package remux

import "encoding/binary"

// Codec configuration records built from H.264 / H.265 parameter sets:
// the recorder makes them from parameter sets that come only inside
// keyframes, the RTP depacketizer from those of the SDP or the stream.

// AppendAVCRecord appends to b an AVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 5.3.3.1) of the SPS and PPS NAL units given (without start codes
// or lengths), for frames with nalLen-byte NAL unit lengths; profile and
// level come from the first SPS, and for the high profiles the chroma
// format and bit depths are read from it. ok is false without an SPS of at
// least 4 bytes or without a PPS. scratch is reused for the SPS's RBSP; b
// and scratch grow as needed, nothing else is allocated.
func AppendAVCRecord(b []byte, sps, pps [][]byte, nalLen int, scratch *[]byte) (_ []byte, ok bool) {
	if len(sps) == 0 || len(pps) == 0 || len(sps[0]) < 4 || len(sps) > 31 || len(pps) > 255 {
		return b, false
	}
	first := sps[0]
	b = append(b, 1, first[1], first[2], first[3], 0xFC|byte(nalLen-1), 0xE0|byte(len(sps)))
	for _, s := range sps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(len(pps)))
	for _, s := range pps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	switch first[1] { // profile_idc: these carry chroma format and bit depths
	case 100, 110, 122, 144:
		*scratch = AppendUnescaped((*scratch)[:0], first[1:])
		br := NewBitReader(*scratch)
		br.Skip(24) // profile_idc, constraint flags, level_idc
		br.UE()     // seq_parameter_set_id
		chroma := br.UE()
		if chroma == 3 {
			br.Skip(1) // separate_colour_plane_flag
		}
		bdl, bdc := br.UE(), br.UE()
		if !br.Ok() || chroma > 3 || bdl > 7 || bdc > 7 {
			chroma, bdl, bdc = 1, 0, 0
		}
		b = append(b, 0xFC|byte(chroma), 0xF8|byte(bdl), 0xF8|byte(bdc), 0)
	}
	return b, true
}

// AppendHEVCRecord appends to b an HEVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 8.3.3.1) of the VPS, SPS and PPS NAL units given, for frames
// with nalLen-byte NAL unit lengths, with the profile, tier, level, chroma
// format and bit depths of the first SPS. ok is false when a kind is
// missing or the SPS is too short. scratch is as for AppendAVCRecord.
func AppendHEVCRecord(b []byte, vps, sps, pps [][]byte, nalLen int, scratch *[]byte) (_ []byte, ok bool) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return b, false
	}
	ps := [3][][]byte{vps, sps, pps}
	*scratch = AppendUnescaped((*scratch)[:0], sps[0])
	r := *scratch
	if len(r) < 15 {
		return b, false
	}
	br := NewBitReader(r[2:])
	subLayers, nested, chroma := br.HEVCSPSHead()
	bdl, bdc := br.UE(), br.UE()
	if !br.Ok() || chroma > 3 || bdl > 7 || bdc > 7 {
		chroma, bdl, bdc = 1, 0, 0
	}
	b = append(b, 1)
	b = append(b, r[3:15]...) // general profile_space, tier, profile_idc, compatibility and constraint flags, level_idc
	b = append(b,
		0xF0, 0x00, // min_spatial_segmentation_idc
		0xFC,              // parallelismType
		0xFC|byte(chroma), // chromaFormat
		0xF8|byte(bdl),    // bitDepthLumaMinus8
		0xF8|byte(bdc),    // bitDepthChromaMinus8
		0x00, 0x00,        // avgFrameRate
		byte(subLayers+1)<<3|byte(nested)<<2|byte(nalLen-1), // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne
		3, // numOfArrays
	)
	for k := range 3 {
		b = append(b, 0x80|byte(32+k)) // array_completeness, NAL_unit_type
		b = binary.BigEndian.AppendUint16(b, uint16(len(ps[k])))
		for _, s := range ps[k] {
			b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		}
	}
	return b, true
}

// AppendUnescaped appends nal to b without its emulation prevention bytes
// (00 00 03): the RBSP that parameter sets are parsed from.
func AppendUnescaped(b, nal []byte) []byte {
	zeros := 0
	for _, c := range nal {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		b = append(b, c)
	}
	return b
}

// HEVCSPSHead reads an H.265 SPS RBSP, from just after its 2-byte NAL unit
// header, up to and including the conformance window (ITU-T H.265
// 7.3.2.2.1), leaving the reader at bit_depth_luma_minus8. It returns
// sps_max_sub_layers_minus1, sps_temporal_id_nesting_flag and
// chroma_format_idc; check Ok afterwards.
func (r *BitReader) HEVCSPSHead() (subLayers int, nested, chroma uint32) {
	r.Skip(4) // sps_video_parameter_set_id
	subLayers = int(r.U(3))
	nested = r.U(1)
	// profile_tier_level(1, subLayers): the general part is 96 bits.
	r.Skip(96)
	var profilePresent, levelPresent [8]bool
	for i := range subLayers {
		profilePresent[i] = r.U(1) == 1
		levelPresent[i] = r.U(1) == 1
	}
	if subLayers > 0 {
		r.Skip(2 * (8 - subLayers)) // reserved_zero_2bits
	}
	for i := range subLayers {
		if profilePresent[i] {
			r.Skip(88)
		}
		if levelPresent[i] {
			r.Skip(8)
		}
	}
	r.UE() // sps_seq_parameter_set_id
	chroma = r.UE()
	if chroma == 3 {
		r.Skip(1) // separate_colour_plane_flag
	}
	r.UE()           // pic_width_in_luma_samples
	r.UE()           // pic_height_in_luma_samples
	if r.U(1) == 1 { // conformance_window_flag: four offsets
		r.UE()
		r.UE()
		r.UE()
		r.UE()
	}
	return subLayers, nested, chroma
}
