package rtpdepack

import "github.com/tapedeck/tapedeck/remux"

// The reorder depth of a stream is how many frames can come before a frame
// in decode order but after it in presentation order: 0 without B-frames,
// 1 for I P B B, 2 with a B-pyramid. It decides how far decode timestamps
// must trail presentation timestamps (see dtsGen). Both codecs can state it
// in the SPS; reading it there saves learning it from the first B-frames,
// which costs a few dropped or mistimed frames.

// maxReorder bounds the reorder depth: a DPB holds at most 16 frames.
const maxReorder = 16

// h264Reorder returns the reorder depth an H.264 SPS (NAL unit with header)
// declares, or -1 when it does not say. It says so in the VUI
// (bitstream_restriction: max_num_reorder_frames), and implicitly for
// profiles and picture order count types that cannot reorder.
func h264Reorder(sps []byte) int {
	if len(sps) < 4 {
		return -1
	}
	r := remux.NewBitReader(remux.AppendUnescaped(nil, sps[1:]))
	profile := r.U(8)
	constraints := r.U(8)
	r.Skip(8) // level_idc
	r.UE()    // seq_parameter_set_id
	// Profiles without B slices, and the intra-only profiles
	// (constraint_set3 on the high profiles), never reorder.
	noReorder := profile == 66 ||
		constraints&0x10 != 0 && (profile == 44 || profile == 86 || profile == 100 || profile == 110 || profile == 122 || profile == 244)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma := r.UE()
		if chroma == 3 {
			r.Skip(1) // separate_colour_plane_flag
		}
		r.UE()           // bit_depth_luma_minus8
		r.UE()           // bit_depth_chroma_minus8
		r.Skip(1)        // qpprime_y_zero_transform_bypass_flag
		if r.U(1) == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.U(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.UE() // log2_max_frame_num_minus4
	pocType := r.UE()
	switch pocType {
	case 0:
		r.UE() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.Skip(1) // delta_pic_order_always_zero_flag
		r.SE()    // offset_for_non_ref_pic
		r.SE()    // offset_for_top_to_bottom_field
		n := r.UE()
		if n > 255 {
			return -1
		}
		for range n {
			r.SE()
		}
	case 2:
		// Output order is decode order (H.264 8.2.1.3).
		noReorder = true
	}
	if noReorder && r.Ok() {
		return 0
	}
	r.UE()           // max_num_ref_frames
	r.Skip(1)        // gaps_in_frame_num_value_allowed_flag
	r.UE()           // pic_width_in_mbs_minus1
	r.UE()           // pic_height_in_map_units_minus1
	if r.U(1) == 0 { // frame_mbs_only_flag
		r.Skip(1) // mb_adaptive_frame_field_flag
	}
	r.Skip(1)        // direct_8x8_inference_flag
	if r.U(1) == 1 { // frame_cropping_flag
		r.UE()
		r.UE()
		r.UE()
		r.UE()
	}
	if r.U(1) == 0 || !r.Ok() { // vui_parameters_present_flag
		return -1
	}
	if r.U(1) == 1 { // aspect_ratio_info_present_flag
		if r.U(8) == 255 { // Extended_SAR
			r.Skip(32)
		}
	}
	if r.U(1) == 1 { // overscan_info_present_flag
		r.Skip(1)
	}
	if r.U(1) == 1 { // video_signal_type_present_flag
		r.Skip(4)
		if r.U(1) == 1 { // colour_description_present_flag
			r.Skip(24)
		}
	}
	if r.U(1) == 1 { // chroma_loc_info_present_flag
		r.UE()
		r.UE()
	}
	if r.U(1) == 1 { // timing_info_present_flag
		r.Skip(65)
	}
	nalHRD := r.U(1) == 1
	if nalHRD {
		skipHRD(r)
	}
	vclHRD := r.U(1) == 1
	if vclHRD {
		skipHRD(r)
	}
	if nalHRD || vclHRD {
		r.Skip(1) // low_delay_hrd_flag
	}
	r.Skip(1)        // pic_struct_present_flag
	if r.U(1) == 0 { // bitstream_restriction_flag
		return -1
	}
	r.Skip(1) // motion_vectors_over_pic_boundaries_flag
	r.UE()    // max_bytes_per_pic_denom
	r.UE()    // max_bits_per_mb_denom
	r.UE()    // log2_max_mv_length_horizontal
	r.UE()    // log2_max_mv_length_vertical
	n := r.UE()
	if !r.Ok() {
		return -1
	}
	return int(min(n, maxReorder))
}

func skipScalingList(r *remux.BitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.SE() + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if !r.Ok() {
			return
		}
	}
}

func skipHRD(r *remux.BitReader) {
	n := r.UE() // cpb_cnt_minus1
	if n > 31 {
		r.Fail()
		return
	}
	r.Skip(8) // bit_rate_scale, cpb_size_scale
	for range n + 1 {
		r.UE()
		r.UE()
		r.Skip(1)
	}
	r.Skip(20) // four delay / length fields
}

// h265Reorder returns sps_max_num_reorder_pics of the highest sub-layer of
// an H.265 SPS (NAL unit with header), or -1 when it cannot be read. Unlike
// H.264 the field is not optional.
func h265Reorder(sps []byte) int {
	if len(sps) < 3 {
		return -1
	}
	r := remux.NewBitReader(remux.AppendUnescaped(nil, sps[2:]))
	subLayers, _, _ := r.HEVCSPSHead()
	r.UE() // bit_depth_luma_minus8
	r.UE() // bit_depth_chroma_minus8
	r.UE() // log2_max_pic_order_cnt_lsb_minus4
	i := subLayers
	if r.U(1) == 1 { // sps_sub_layer_ordering_info_present_flag
		i = 0
	}
	n := uint32(0)
	for ; i <= subLayers; i++ {
		r.UE()     // sps_max_dec_pic_buffering_minus1
		n = r.UE() // sps_max_num_reorder_pics
		r.UE()     // sps_max_latency_increase_plus1
	}
	if !r.Ok() {
		return -1
	}
	return int(min(n, maxReorder))
}
