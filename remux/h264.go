package remux

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// H.264 sequence parameter sets are parsed by mediacommon's h264.SPS, the
// project's one H.264 SPS parser: the recorder, the records built here and
// RTP ingest read the same fields the same way. This file only finds the
// SPS inside the records tapedeck carries.

// errNoSPS is returned when a configuration record holds no SPS.
var errNoSPS = errors.New("no SPS in the configuration record")

// AVCRecordSPS returns the first SPS NAL unit of an
// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), aliasing rec;
// nil when the record is malformed or has none.
func AVCRecordSPS(rec []byte) []byte {
	if len(rec) < 8 || rec[0] != 1 || rec[5]&0x1F == 0 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(rec[6:]))
	if n < 2 || 8+n > len(rec) {
		return nil
	}
	return rec[8 : 8+n]
}

// AVCRecordPPS returns the first PPS NAL unit of an
// AVCDecoderConfigurationRecord, aliasing rec; nil when the record is
// malformed or has none.
func AVCRecordPPS(rec []byte) []byte {
	if len(rec) < 6 || rec[0] != 1 {
		return nil
	}
	p := 6
	for range int(rec[5] & 0x1F) { // the SPS come first
		if p+2 > len(rec) {
			return nil
		}
		p += 2 + int(binary.BigEndian.Uint16(rec[p:]))
	}
	if p+3 > len(rec) || rec[p] == 0 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(rec[p+1:]))
	if n == 0 || p+3+n > len(rec) {
		return nil
	}
	return rec[p+3 : p+3+n]
}

// AVCRecordNALLength returns the size of the NAL unit lengths in the frames
// an AVCDecoderConfigurationRecord describes (lengthSizeMinusOne + 1), 0
// when rec is not such a record.
func AVCRecordNALLength(rec []byte) int {
	if len(rec) < 5 || rec[0] != 1 {
		return 0
	}
	return int(rec[4]&3) + 1
}

// ParseAVCRecordSPS parses the first SPS of an AVCDecoderConfigurationRecord.
func ParseAVCRecordSPS(rec []byte) (h264.SPS, error) {
	var s h264.SPS
	nal := AVCRecordSPS(rec)
	if nal == nil {
		return s, errNoSPS
	}
	if err := s.Unmarshal(nal); err != nil {
		return s, fmt.Errorf("h264 SPS: %w", err)
	}
	return s, nil
}
