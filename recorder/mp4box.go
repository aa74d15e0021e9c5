package recorder

import (
	"encoding/binary"

	"github.com/tapedeck/tapedeck/remux"
)

// ISO BMFF box building by appending to a byte slice.

func boxStart(b []byte, typ string) ([]byte, int) {
	off := len(b)
	b = append(b, 0, 0, 0, 0, typ[0], typ[1], typ[2], typ[3])
	return b, off
}

func fullBoxStart(b []byte, typ string, version uint8, flags uint32) ([]byte, int) {
	b, off := boxStart(b, typ)
	return append(b, version, byte(flags>>16), byte(flags>>8), byte(flags)), off
}

func boxEnd(b []byte, off int) []byte {
	binary.BigEndian.PutUint32(b[off:], uint32(len(b)-off))
	return b
}

func be16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func zeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

var unityMatrix = [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}

func putMatrix(b []byte) []byte {
	for _, v := range unityMatrix {
		b = be32(b, v)
	}
	return b
}

// mp4TrackInfo is what the moov needs per track.
type mp4TrackInfo struct {
	id        uint32
	video     bool
	cfg       *trackConfig
	timescale uint32
	duration  uint64 // in timescale (progressive only)
	// lang (ISO 639-2/T, "" for undetermined) and name (the handler name
	// players show) label a multitrack track (multitrack.go).
	lang, name string
}

// appendFtyp writes the file type box.
func appendFtyp(b []byte, fragmented bool) []byte {
	b, off := boxStart(b, "ftyp")
	b = append(b, "isom"...)
	b = be32(b, 0x200)
	b = append(b, "isom"...)
	if fragmented {
		b = append(b, "iso5iso6"...)
	} else {
		b = append(b, "iso2"...)
	}
	b = append(b, "mp41"...)
	return boxEnd(b, off)
}

func appendMvhd(b []byte, durationMs uint64, nextID uint32) []byte {
	b, off := fullBoxStart(b, "mvhd", 1, 0)
	b = be64(b, 0)
	b = be64(b, 0)
	b = be32(b, 1000)
	b = be64(b, durationMs)
	b = be32(b, 0x00010000)
	b = be16(b, 0x0100)
	b = zeros(b, 10)
	b = putMatrix(b)
	b = zeros(b, 24)
	b = be32(b, nextID)
	return boxEnd(b, off)
}

// appendTrakHead writes tkhd and the mdia header boxes and returns the
// offsets of the still-open trak, mdia, minf boxes; the caller appends the
// stbl, then closes them with appendTrakTail.
func appendTrakHead(b []byte, t *mp4TrackInfo, movieDurMs uint64) ([]byte, [3]int) {
	var offs [3]int
	b, offs[0] = boxStart(b, "trak")
	var off int
	b, off = fullBoxStart(b, "tkhd", 1, 3)
	b = be64(b, 0)
	b = be64(b, 0)
	b = be32(b, t.id)
	b = be32(b, 0)
	b = be64(b, movieDurMs)
	b = zeros(b, 8)
	b = be16(b, 0) // layer
	b = be16(b, 0) // alternate group
	if t.video {
		b = be16(b, 0)
	} else {
		b = be16(b, 0x0100)
	}
	b = be16(b, 0)
	b = putMatrix(b)
	if t.video {
		b = be32(b, uint32(t.cfg.width)<<16)
		b = be32(b, uint32(t.cfg.height)<<16)
	} else {
		b = be32(b, 0)
		b = be32(b, 0)
	}
	b = boxEnd(b, off)

	b, offs[1] = boxStart(b, "mdia")
	b, off = fullBoxStart(b, "mdhd", 1, 0)
	b = be64(b, 0)
	b = be64(b, 0)
	b = be32(b, t.timescale)
	b = be64(b, t.duration)
	b = be16(b, packLanguage(t.lang))
	b = be16(b, 0)
	b = boxEnd(b, off)

	b, off = fullBoxStart(b, "hdlr", 0, 0)
	b = be32(b, 0)
	if t.video {
		b = append(b, "vide"...)
	} else {
		b = append(b, "soun"...)
	}
	b = zeros(b, 12)
	switch {
	case t.name != "":
		b = append(append(b, t.name...), 0)
	case t.video:
		b = append(b, "VideoHandler\x00"...)
	default:
		b = append(b, "SoundHandler\x00"...)
	}
	b = boxEnd(b, off)

	b, offs[2] = boxStart(b, "minf")
	if t.video {
		b, off = fullBoxStart(b, "vmhd", 0, 1)
		b = zeros(b, 8)
	} else {
		b, off = fullBoxStart(b, "smhd", 0, 0)
		b = zeros(b, 4)
	}
	b = boxEnd(b, off)
	b, off = boxStart(b, "dinf")
	var dref, url int
	b, dref = fullBoxStart(b, "dref", 0, 0)
	b = be32(b, 1)
	b, url = fullBoxStart(b, "url ", 0, 1)
	b = boxEnd(b, url)
	b = boxEnd(b, dref)
	b = boxEnd(b, off)
	return b, offs
}

// packLanguage is mdhd's language field: three letters of ISO 639-2/T,
// five bits each; "und" (0x55C4) when lang is not one.
func packLanguage(lang string) uint16 {
	if !isLanguage(lang) {
		lang = "und"
	}
	return uint16(lang[0]-0x60)<<10 | uint16(lang[1]-0x60)<<5 | uint16(lang[2]-0x60)
}

func appendTrakTail(b []byte, offs [3]int) []byte {
	b = boxEnd(b, offs[2])
	b = boxEnd(b, offs[1])
	return boxEnd(b, offs[0])
}

// appendStsd writes the sample description for t.
func appendStsd(b []byte, t *mp4TrackInfo) []byte {
	b, stsd := fullBoxStart(b, "stsd", 0, 0)
	b = be32(b, 1)
	c := t.cfg
	if t.video {
		var typ, cfgBox string
		switch c.codec {
		case remux.CodecAVC:
			typ, cfgBox = "avc1", "avcC"
		case remux.CodecHEVC:
			typ, cfgBox = "hvc1", "hvcC"
		case remux.CodecAV1:
			typ, cfgBox = "av01", "av1C"
		case remux.CodecVP9:
			typ, cfgBox = "vp09", "vpcC"
		}
		var e int
		b, e = boxStart(b, typ)
		b = zeros(b, 6)
		b = be16(b, 1) // data_reference_index
		b = zeros(b, 16)
		b = be16(b, c.width)
		b = be16(b, c.height)
		b = be32(b, 0x00480000)
		b = be32(b, 0x00480000)
		b = be32(b, 0)
		b = be16(b, 1) // frame_count
		b = zeros(b, 32)
		b = be16(b, 0x0018)
		b = be16(b, 0xFFFF)
		var cb int
		if cfgBox == "vpcC" {
			b, cb = fullBoxStart(b, cfgBox, 1, 0)
		} else {
			b, cb = boxStart(b, cfgBox)
		}
		b = append(b, c.record...)
		b = boxEnd(b, cb)
		b = boxEnd(b, e)
		return boxEnd(b, stsd)
	}
	b = appendAudioEntry(b, t.id, c)
	return boxEnd(b, stsd)
}

// appendAudioEntry writes an AudioSampleEntry (ISO/IEC 14496-12 §12.2.3)
// and its codec box: mp4a+esds (AAC, MP3), Opus+dOps, fLaC+dfLa (FLAC in
// ISOBMFF §3.3), ac-3+dac3 and ec-3+dec3 (ETSI TS 102 366 F.3 to F.6).
func appendAudioEntry(b []byte, id uint32, c *trackConfig) []byte {
	typ := "mp4a"
	switch c.codec {
	case remux.CodecOpus:
		typ = "Opus"
	case remux.CodecFLAC:
		typ = "fLaC"
	case remux.CodecAC3:
		typ = "ac-3"
	case remux.CodecEAC3:
		typ = "ec-3"
	}
	b, e := boxStart(b, typ)
	b = zeros(b, 6)
	b = be16(b, 1) // data_reference_index
	b = zeros(b, 8)
	b = be16(b, c.channels)
	ss := c.sampleSize // FLAC: the bits per sample of STREAMINFO; 16 for the others
	if ss == 0 {
		ss = 16
	}
	b = be16(b, ss)
	b = zeros(b, 4)
	if c.sampleRate < 1<<16 {
		b = be32(b, c.sampleRate<<16)
	} else {
		b = be32(b, 0) // FLAC above 65535 Hz: STREAMINFO has the rate
	}
	var cb int
	switch c.codec {
	case remux.CodecOpus:
		b = appendDOps(b, c)
	case remux.CodecFLAC:
		b, cb = fullBoxStart(b, "dfLa", 0, 0)
		b = boxEnd(append(b, c.record...), cb)
	case remux.CodecAC3:
		b, cb = boxStart(b, "dac3")
		b = boxEnd(append(b, c.record...), cb)
	case remux.CodecEAC3:
		b, cb = boxStart(b, "dec3")
		b = boxEnd(append(b, c.record...), cb)
	default:
		b = appendEsds(b, id, c)
	}
	return boxEnd(b, e)
}

// descLen writes an MPEG-4 descriptor header with a 4-byte length.
func descLen(b []byte, tag byte, n int) []byte {
	return append(b, tag, 0x80|byte(n>>21)&0x7F, 0x80|byte(n>>14)&0x7F, 0x80|byte(n>>7)&0x7F, byte(n)&0x7F)
}

func appendEsds(b []byte, id uint32, c *trackConfig) []byte {
	b, off := fullBoxStart(b, "esds", 0, 0)
	dsi := 0
	if c.codec == remux.CodecAAC {
		dsi = 5 + len(c.record)
	}
	dcd := 13 + dsi
	es := 3 + 5 + dcd + 5 + 1
	b = descLen(b, 0x03, es)
	b = be16(b, uint16(id))
	b = append(b, 0)
	b = descLen(b, 0x04, dcd)
	b = append(b, c.objectType, 0x15, 0, 0, 0)
	b = be32(b, 0)
	b = be32(b, 0)
	if dsi > 0 {
		b = descLen(b, 0x05, len(c.record))
		b = append(b, c.record...)
	}
	b = descLen(b, 0x06, 1)
	b = append(b, 0x02)
	return boxEnd(b, off)
}

// appendDOps writes the dOps box of an Opus track: its OpusHead in the
// box's big-endian form, or mono/stereo defaults when the sequence start
// carried none.
func appendDOps(b []byte, c *trackConfig) []byte {
	b, off := boxStart(b, "dOps")
	if c.opus != nil {
		b = c.opus.AppendDOps(b)
	} else {
		b = remux.OpusHead{Channels: uint8(c.channels), PreSkip: 312, InputSampleRate: 48000}.AppendDOps(b)
	}
	return boxEnd(b, off)
}

// appendInitMoov writes the moov of a fragmented file: empty sample tables
// and mvex/trex.
func appendInitMoov(b []byte, tracks []*mp4TrackInfo) []byte {
	b, moov := boxStart(b, "moov")
	b = appendMvhd(b, 0, uint32(len(tracks)+1))
	for _, t := range tracks {
		var offs [3]int
		b, offs = appendTrakHead(b, t, 0)
		var stbl, off int
		b, stbl = boxStart(b, "stbl")
		b = appendStsd(b, t)
		b, off = fullBoxStart(b, "stts", 0, 0)
		b = boxEnd(be32(b, 0), off)
		b, off = fullBoxStart(b, "stsc", 0, 0)
		b = boxEnd(be32(b, 0), off)
		b, off = fullBoxStart(b, "stsz", 0, 0)
		b = boxEnd(be32(be32(b, 0), 0), off)
		b, off = fullBoxStart(b, "stco", 0, 0)
		b = boxEnd(be32(b, 0), off)
		b = boxEnd(b, stbl)
		b = appendTrakTail(b, offs)
	}
	var mvex int
	b, mvex = boxStart(b, "mvex")
	for _, t := range tracks {
		var off int
		b, off = fullBoxStart(b, "trex", 0, 0)
		b = be32(b, t.id)
		b = be32(b, 1)
		b = be32(b, 0)
		b = be32(b, 0)
		if t.video {
			b = be32(b, sampleFlagsNonSync)
		} else {
			b = be32(b, sampleFlagsSync)
		}
		b = boxEnd(b, off)
	}
	b = boxEnd(b, mvex)
	return boxEnd(b, moov)
}

const (
	sampleFlagsSync    = 0x02000000 // sample_depends_on = 2 (I frame)
	sampleFlagsNonSync = 0x01010000 // depends_on = 1, is_non_sync_sample
)
