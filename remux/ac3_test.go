package remux

import "testing"

// AC-3 frame sizes from the frame size code (ETSI TS 102 366 Table 4.13,
// in 16-bit words) and E-AC-3 from frmsiz (§E.1.3.1.3).
func TestParseAC3Header(t *testing.T) {
	ac3 := func(fscod, frmsizecod, acmod byte) []byte {
		// syncword, crc1, fscod+frmsizecod, bsid 8 + bsmod 0, acmod then zeros.
		return []byte{0x0B, 0x77, 0, 0, fscod<<6 | frmsizecod, 8 << 3, acmod << 5, 0}
	}
	for _, c := range []struct {
		name       string
		in         []byte
		rate, kbps uint32
		size, ch   int
		eac3       bool
	}{
		{"48k 32 kbit/s", ac3(0, 0, 2), 48000, 32, 2 * 64, 2, false},
		{"44.1k 32 kbit/s, odd code", ac3(1, 1, 2), 44100, 32, 2 * 70, 2, false},
		{"44.1k 640 kbit/s", ac3(1, 36, 2), 44100, 640, 2 * 1393, 2, false},
		{"44.1k 640 kbit/s, odd code", ac3(1, 37, 2), 44100, 640, 2 * 1394, 2, false},
		{"32k 640 kbit/s", ac3(2, 37, 7), 32000, 640, 2 * 1920, 5, false},
		// strmtyp 0, substreamid 0, frmsiz 383 (768 bytes), fscod 0,
		// numblkscod 3, acmod 2, lfeon 0, bsid 16.
		{"e-ac-3 48k stereo", []byte{0x0B, 0x77, 0x01, 0x7F, 0x34, 0x80, 0xFE, 0}, 48000, 192, 768, 2, true},
	} {
		h, err := ParseAC3Header(c.in)
		if err != nil || h.SampleRate != c.rate || h.BitRate != c.kbps || h.FrameSize != c.size || h.Channels() != c.ch || h.EAC3 != c.eac3 {
			t.Errorf("%s: %+v (%d channels), %v", c.name, h, h.Channels(), err)
		}
	}
	for _, bad := range [][]byte{nil, {0x0B, 0x77}, ac3(3, 0, 2), ac3(0, 38, 2), {0x0B, 0x77, 0, 0, 0, 20 << 3, 0, 0}} {
		if h, err := ParseAC3Header(bad); err == nil {
			t.Errorf("% x accepted: %+v", bad, h)
		}
	}
}
