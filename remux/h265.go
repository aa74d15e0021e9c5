package remux

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// H.265 sequence parameter sets are parsed by mediacommon's h265.SPS, the
// project's one H.265 SPS parser. Known limits of that parser (v2.9.3): an
// SPS with sub-layer profile/level information or long-term reference
// pictures is refused; callers fall back to what the fixed-position header
// bits and the decoder configuration record say.

// H.265 NAL unit types of the parameter sets (ITU-T H.265 Table 7-1).
const (
	HEVCNALVPS = 32
	HEVCNALSPS = 33
	HEVCNALPPS = 34
)

// HEVCRecordNALU returns the first NAL unit of type typ in an
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), aliasing rec;
// nil when there is none or the record is malformed.
func HEVCRecordNALU(rec []byte, typ byte) []byte {
	if len(rec) < 23 {
		return nil
	}
	n := int(rec[22])
	p := 23
	for range n {
		if p+3 > len(rec) {
			return nil
		}
		t := rec[p] & 0x3F
		cnt := int(binary.BigEndian.Uint16(rec[p+1:]))
		p += 3
		for range cnt {
			if p+2 > len(rec) {
				return nil
			}
			l := int(binary.BigEndian.Uint16(rec[p:]))
			p += 2
			if p+l > len(rec) {
				return nil
			}
			if t == typ && l > 2 {
				return rec[p : p+l]
			}
			p += l
		}
	}
	return nil
}

// HEVCRecordNALLength returns the size of the NAL unit lengths in the
// frames an HEVCDecoderConfigurationRecord describes (lengthSizeMinusOne +
// 1), 0 when rec is not such a record.
func HEVCRecordNALLength(rec []byte) int {
	if len(rec) < 22 || rec[0] != 1 {
		return 0
	}
	return int(rec[21]&3) + 1
}

// ParseHEVCRecordSPS parses the first SPS of an HEVCDecoderConfigurationRecord.
func ParseHEVCRecordSPS(rec []byte) (h265.SPS, error) {
	var s h265.SPS
	nal := HEVCRecordNALU(rec, HEVCNALSPS)
	if nal == nil {
		return s, errNoSPS
	}
	if err := s.Unmarshal(nal); err != nil {
		return s, fmt.Errorf("h265 SPS: %w", err)
	}
	return s, nil
}
