package remux

import (
	"bytes"
	"encoding/binary"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Codec configuration records built from H.264 / H.265 parameter sets:
// the recorder makes them from parameter sets that come only inside
// keyframes, the RTP depacketizer from those of the SDP or the stream.

// AppendAVCRecord appends to b an AVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 5.3.3.1) of the SPS and PPS NAL units given (without start codes
// or lengths), for frames with nalLen-byte NAL unit lengths; profile and
// level come from the first SPS, and for the high profiles the chroma
// format and bit depths are read from it (with mediacommon's h264.SPS). ok
// is false without an SPS of at least 4 bytes or without a PPS. scratch
// keeps what was read from the last SPS parsed, so that rebuilding the
// record from unchanged parameter sets allocates nothing but growth of b.
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
		if !spsCacheHit(*scratch, spsCacheAVC, first) {
			chroma, bdl, bdc := uint32(1), uint32(0), uint32(0)
			var s h264.SPS
			if s.Unmarshal(first) == nil && s.ChromaFormatIdc <= 3 && s.BitDepthLumaMinus8 <= 7 && s.BitDepthChromaMinus8 <= 7 {
				chroma, bdl, bdc = s.ChromaFormatIdc, s.BitDepthLumaMinus8, s.BitDepthChromaMinus8
			}
			*scratch = append(append((*scratch)[:0], spsCacheAVC, byte(chroma), byte(bdl), byte(bdc)), first...)
		}
		f := *scratch
		b = append(b, 0xFC|f[1], 0xF8|f[2], 0xF8|f[3], 0)
	}
	return b, true
}

// spsCacheHit reports whether cache holds what was read from sps as an SPS
// of the codec tag names. The records are rebuilt from the parameter sets
// of every keyframe of an in-band stream; mediacommon's parser allocates,
// so each SPS is parsed once, when it changes, and a keyframe repeating it
// costs no allocation. Layout: [tag][chroma_format_idc][bit_depth_luma_minus8]
// [bit_depth_chroma_minus8][the SPS].
func spsCacheHit(cache []byte, tag byte, sps []byte) bool {
	return len(cache) == spsCacheHead+len(sps) && cache[0] == tag && bytes.Equal(cache[spsCacheHead:], sps)
}

// The codec tags of the SPS cache in an Append*Record scratch.
const (
	spsCacheAVC  = 'a'
	spsCacheHEVC = 'h'
	spsCacheHead = 4
)

// AppendHEVCRecord appends to b an HEVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 8.3.3.1) of the VPS, SPS and PPS NAL units given, for frames
// with nalLen-byte NAL unit lengths, with the profile, tier, level, chroma
// format and bit depths of the first SPS (the latter read with mediacommon's
// h265.SPS; 4:2:0 8-bit when it cannot read them). ok is false when a kind
// is missing or the SPS is too short. scratch is as for AppendAVCRecord.
func AppendHEVCRecord(b []byte, vps, sps, pps [][]byte, nalLen int, scratch *[]byte) (_ []byte, ok bool) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return b, false
	}
	ps := [3][][]byte{vps, sps, pps}
	// The fixed-position head of the SPS RBSP, after the 2-byte NAL unit
	// header: vps id, max_sub_layers_minus1, temporal_id_nesting_flag, then
	// the 12 bytes of the general profile_tier_level the record copies.
	var head [24]byte
	r := AppendUnescaped(head[:0], sps[0][:min(len(sps[0]), len(head))])
	if len(r) < 15 {
		return b, false
	}
	subLayers, nested := (r[2]>>1)&7, r[2]&1
	if !spsCacheHit(*scratch, spsCacheHEVC, sps[0]) {
		chroma, bdl, bdc := uint32(1), uint32(0), uint32(0)
		var s h265.SPS
		if s.Unmarshal(sps[0]) == nil && s.ChromaFormatIdc <= 3 && s.BitDepthLumaMinus8 <= 7 && s.BitDepthChromaMinus8 <= 7 {
			chroma, bdl, bdc = s.ChromaFormatIdc, s.BitDepthLumaMinus8, s.BitDepthChromaMinus8
		}
		*scratch = append(append((*scratch)[:0], spsCacheHEVC, byte(chroma), byte(bdl), byte(bdc)), sps[0]...)
	}
	chroma, bdl, bdc := (*scratch)[1], (*scratch)[2], (*scratch)[3]
	b = append(b, 1)
	b = append(b, r[3:15]...) // general profile_space, tier, profile_idc, compatibility and constraint flags, level_idc
	b = append(b,
		0xF0, 0x00, // min_spatial_segmentation_idc
		0xFC,        // parallelismType
		0xFC|chroma, // chromaFormat
		0xF8|bdl,    // bitDepthLumaMinus8
		0xF8|bdc,    // bitDepthChromaMinus8
		0x00, 0x00,  // avgFrameRate
		(subLayers+1)<<3|nested<<2|byte(nalLen-1), // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne
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
