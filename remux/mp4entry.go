package remux

import (
	"encoding/binary"
)

// MP4 sample entries as Enhanced RTMP sequence starts: for each sample
// entry type the MP4 reader plays, the codec and the configuration a
// SequenceStart of that codec carries (enhanced-rtmp.md §1.3, §3).
//
//	avc1/avc3 avcC  AVCDecoderConfigurationRecord (legacy AVC header)
//	hvc1/hev1 hvcC  HEVCDecoderConfigurationRecord
//	av01      av1C  AV1CodecConfigurationRecord
//	vp09      vpcC  the box's content, version and flags included: what
//	                gortmplib sends and requires (VP9Record reads both forms)
//	mp4a      esds  AudioSpecificConfig (legacy AAC header)
//	Opus      dOps  OpusHead (RFC 7845 §5.1), rebuilt from the box's big-endian fields
//	fLaC      dfLa  the 34 bytes of STREAMINFO: what gortmplib and mpegts.js
//	                read, and ffmpeg's FLAC extradata; the v2 text's "fLaC" +
//	                STREAMINFO block form is accepted on ingest (ParseFLACConfig)
//	ac-3/ec-3       nothing: the syncframes describe themselves; the
//	                SequenceStart is empty, as gortmplib sends and requires it

// videoEntry reads a visual sample entry's codec and configuration from
// the boxes after its 78 fixed bytes; ok is false for what is not played.
func videoEntry(typ string, kids []byte) (FourCC, []byte, bool) {
	var c FourCC
	var cfg []byte
	switch typ {
	case "avc1", "avc3":
		c, cfg = CodecAVC, child(kids, "avcC")
	case "hvc1", "hev1":
		c, cfg = CodecHEVC, child(kids, "hvcC")
	case "av01":
		c, cfg = CodecAV1, child(kids, "av1C")
	case "vp09":
		c, cfg = CodecVP9, child(kids, "vpcC")
		if _, err := ParseVP9Config(cfg); err != nil {
			return 0, nil, false
		}
	default:
		return 0, nil, false
	}
	return c, cfg, len(cfg) > 0
}

// audioEntry reads an audio sample entry (body: its content after the box
// header) as a codec and the configuration its SequenceStart carries.
func audioEntry(typ string, body []byte) (FourCC, []byte, bool) {
	if len(body) < 28 {
		return 0, nil, false
	}
	skip := 28
	if typ == "mp4a" {
		switch binary.BigEndian.Uint16(body[8:]) { // QuickTime sound description version
		case 1:
			skip += 16
		case 2:
			skip += 36
		}
		if skip > len(body) {
			return 0, nil, false
		}
	}
	kids := body[skip:]
	switch typ {
	case "mp4a":
		esds := child(kids, "esds")
		if esds == nil {
			esds = path(kids, "wave", "esds")
		}
		cfg := aacConfig(esds)
		return CodecAAC, cfg, len(cfg) > 0
	case "Opus":
		h, err := ParseOpusDOps(child(kids, "dOps"))
		if err != nil {
			return 0, nil, false
		}
		return CodecOpus, h.AppendOpusHead(nil), true
	case "fLaC":
		cfg := flacConfig(child(kids, "dfLa"))
		return CodecFLAC, cfg, cfg != nil
	case "ac-3":
		return CodecAC3, nil, child(kids, "dac3") != nil
	case "ec-3":
		return CodecEAC3, nil, child(kids, "dec3") != nil
	}
	return 0, nil, false
}

// flacConfig takes the FLAC sequence start, the STREAMINFO data, from a
// dfLa box's content (version, flags, then metadata blocks, STREAMINFO
// first); nil when the first block is not a whole STREAMINFO.
func flacConfig(dfLa []byte) []byte {
	if len(dfLa) < 4 || dfLa[0] != 0 {
		return nil
	}
	si, err := ParseFLACConfig(dfLa[4:])
	if err != nil {
		return nil
	}
	return si.Raw
}

// AppendOpusHead appends h as an OpusHead packet (RFC 7845 §5.1, little
// endian, version 1): the Enhanced RTMP Opus SequenceStart a player gets
// for an Opus track read from an MP4 file's dOps.
func (h OpusHead) AppendOpusHead(b []byte) []byte {
	b = append(b, "OpusHead"...)
	b = append(b, 1, h.Channels)
	b = binary.LittleEndian.AppendUint16(b, h.PreSkip)
	b = binary.LittleEndian.AppendUint32(b, h.InputSampleRate)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.OutputGain))
	b = append(b, h.MappingFamily)
	if h.MappingFamily != 0 {
		b = append(b, h.StreamCount, h.CoupledCount)
		b = append(b, h.ChannelMapping...)
	}
	return b
}
