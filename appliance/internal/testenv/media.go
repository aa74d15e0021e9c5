package testenv

import (
	"encoding/binary"
	"fmt"
)

// HEVCAnnexB turns HEVC as Enhanced RTMP, FLV and MP4 carry it — an
// HEVCDecoderConfigurationRecord (hvcC) with the parameter sets, then
// frames of length-prefixed NAL units — into an Annex B elementary stream
// that `ffmpeg -f hevc` decodes: every NAL unit behind a start code. Feed
// it the records and frames in the order they were received (a new record
// may come between frames, e.g. at a segment boundary).
type HEVCAnnexB struct {
	Buf     []byte
	lenSize int // NAL unit length size from the last record
}

var startCode = []byte{0, 0, 0, 1}

// Config appends the parameter sets of an hvcC record and returns the NAL
// unit types of its arrays (32 VPS, 33 SPS, 34 PPS, 39 SEI).
func (a *HEVCAnnexB) Config(rec []byte) ([]int, error) {
	if len(rec) < 23 || rec[0] != 1 {
		return nil, fmt.Errorf("not an HEVCDecoderConfigurationRecord (%d bytes, version %v)", len(rec), rec[:min(len(rec), 1)])
	}
	a.lenSize = int(rec[21]&3) + 1
	var types []int
	p := rec[23:]
	for range int(rec[22]) {
		if len(p) < 3 {
			return nil, fmt.Errorf("hvcC: array header cut")
		}
		typ, cnt := int(p[0]&0x3f), int(binary.BigEndian.Uint16(p[1:]))
		p = p[3:]
		types = append(types, typ)
		for range cnt {
			if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
				return nil, fmt.Errorf("hvcC: NAL unit of type %d cut", typ)
			}
			l := int(binary.BigEndian.Uint16(p))
			a.Buf = append(append(a.Buf, startCode...), p[2:2+l]...)
			p = p[2+l:]
		}
	}
	return types, nil
}

// Frame appends the NAL units of one frame (length-prefixed, with the
// length size of the last record; 4 before any).
func (a *HEVCAnnexB) Frame(b []byte) error {
	n := a.lenSize
	if n == 0 {
		n = 4
	}
	for len(b) > 0 {
		if len(b) < n {
			return fmt.Errorf("NAL unit length cut (%d bytes left)", len(b))
		}
		l := 0
		for _, c := range b[:n] {
			l = l<<8 | int(c)
		}
		if l == 0 || len(b)-n < l {
			return fmt.Errorf("NAL unit of %d bytes, %d left", l, len(b)-n)
		}
		a.Buf = append(append(a.Buf, startCode...), b[n:n+l]...)
		b = b[n+l:]
	}
	return nil
}

// FLVTag is one tag of an FLV file made by FLV.
type FLVTag struct {
	Type uint8 // 8 audio, 9 video, 18 script data
	TS   uint32
	Body []byte
}

// FLV makes an FLV file (header with the audio and video flags, then the
// tags with their PreviousTagSize).
func FLV(tags []FLVTag) []byte {
	b := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	for _, t := range tags {
		n := len(t.Body)
		b = append(b, t.Type, byte(n>>16), byte(n>>8), byte(n), byte(t.TS>>16), byte(t.TS>>8), byte(t.TS), byte(t.TS>>24), 0, 0, 0)
		b = append(b, t.Body...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+n))
	}
	return b
}
