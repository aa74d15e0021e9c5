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
