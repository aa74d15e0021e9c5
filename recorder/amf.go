package recorder

import (
	"encoding/binary"
	"math"
)

// Minimal AMF0 for onMetaData: read a publisher's primitive fields, write
// ours. Nested values are skipped when reading.

const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfReference   = 0x07
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0A
	amfDate        = 0x0B
	amfLongString  = 0x0C
)

// amfProp is one primitive onMetaData property.
type amfProp struct {
	key  string
	kind byte // amfNumber, amfBoolean or amfString
	num  float64
	b    bool
	s    string
}

// parseMetadata returns the primitive properties of an onMetaData body
// (AMF0 string "onMetaData" followed by an ECMA array or object). Whatever
// cannot be parsed is dropped.
func parseMetadata(b []byte) []amfProp {
	r := amfReader{b: b}
	if name, ok := r.string(); !ok || name != "onMetaData" {
		return nil
	}
	marker, ok := r.u8()
	if !ok {
		return nil
	}
	switch marker {
	case amfECMAArray:
		if _, ok := r.n(4); !ok {
			return nil
		}
	case amfObject:
	default:
		return nil
	}
	var props []amfProp
	for len(props) < 256 {
		key, ok := r.key()
		if !ok {
			break
		}
		t, ok := r.u8()
		if !ok || (key == "" && t == amfObjectEnd) {
			break
		}
		p := amfProp{key: key, kind: t}
		switch t {
		case amfNumber:
			v, ok := r.n(8)
			if !ok {
				return props
			}
			p.num = math.Float64frombits(binary.BigEndian.Uint64(v))
		case amfBoolean:
			v, ok := r.u8()
			if !ok {
				return props
			}
			p.b = v != 0
		case amfString:
			s, ok := r.str16()
			if !ok {
				return props
			}
			if len(s) >= 256 { // ffmpeg rejects such strings in onMetaData
				continue
			}
			p.s = s
		default:
			if !r.skipValue(t, 0) {
				return props
			}
			continue
		}
		props = append(props, p)
	}
	return props
}

type amfReader struct {
	b []byte
	p int
}

func (r *amfReader) n(k int) ([]byte, bool) {
	if k < 0 || r.p+k > len(r.b) {
		return nil, false
	}
	v := r.b[r.p : r.p+k]
	r.p += k
	return v, true
}

func (r *amfReader) u8() (byte, bool) {
	v, ok := r.n(1)
	if !ok {
		return 0, false
	}
	return v[0], true
}

func (r *amfReader) str16() (string, bool) {
	l, ok := r.n(2)
	if !ok {
		return "", false
	}
	v, ok := r.n(int(binary.BigEndian.Uint16(l)))
	return string(v), ok
}

func (r *amfReader) key() (string, bool) { return r.str16() }

func (r *amfReader) string() (string, bool) {
	t, ok := r.u8()
	if !ok || t != amfString {
		return "", false
	}
	return r.str16()
}

func (r *amfReader) skipValue(t byte, depth int) bool {
	if depth > 16 {
		return false
	}
	switch t {
	case amfNumber:
		_, ok := r.n(8)
		return ok
	case amfBoolean:
		_, ok := r.n(1)
		return ok
	case amfString:
		_, ok := r.str16()
		return ok
	case amfNull, amfUndefined:
		return true
	case amfReference:
		_, ok := r.n(2)
		return ok
	case amfDate:
		_, ok := r.n(10)
		return ok
	case amfLongString:
		l, ok := r.n(4)
		if !ok {
			return false
		}
		_, ok = r.n(int(binary.BigEndian.Uint32(l)))
		return ok
	case amfECMAArray, amfObject:
		if t == amfECMAArray {
			if _, ok := r.n(4); !ok {
				return false
			}
		}
		for {
			k, ok := r.key()
			if !ok {
				return false
			}
			vt, ok := r.u8()
			if !ok {
				return false
			}
			if k == "" && vt == amfObjectEnd {
				return true
			}
			if !r.skipValue(vt, depth+1) {
				return false
			}
		}
	case amfStrictArray:
		l, ok := r.n(4)
		if !ok {
			return false
		}
		for i := uint32(0); i < binary.BigEndian.Uint32(l); i++ {
			vt, ok := r.u8()
			if !ok || !r.skipValue(vt, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// AMF0 writers appending to a byte slice.

func amfPutKey(b []byte, k string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
	return append(b, k...)
}

func amfPutString(b []byte, s string) []byte {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	b = append(b, amfString)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func amfPutNumber(b []byte, v float64) []byte {
	b = append(b, amfNumber)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func amfPutBool(b []byte, v bool) []byte {
	if v {
		return append(b, amfBoolean, 1)
	}
	return append(b, amfBoolean, 0)
}

func amfPutProp(b []byte, p amfProp) []byte {
	b = amfPutKey(b, p.key)
	switch p.kind {
	case amfNumber:
		return amfPutNumber(b, p.num)
	case amfBoolean:
		return amfPutBool(b, p.b)
	default:
		return amfPutString(b, p.s)
	}
}
