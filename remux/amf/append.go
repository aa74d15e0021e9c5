package amf

import (
	"encoding/binary"
	"math"
)

// These writers append one AMF0 item each and never allocate beyond growing
// dst: no value is boxed in an interface, which AppendAMF0 cannot avoid.
// They cannot fail; where AMF0 cannot carry an input (a property name over
// 65535 bytes) the doc comment says what is written instead.

// AppendNumber appends an AMF0 number (marker 0x00, IEEE-754 double).
func AppendNumber(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, amf0Number), math.Float64bits(f))
}

// AppendBoolean appends an AMF0 boolean (marker 0x01).
func AppendBoolean(dst []byte, v bool) []byte {
	if v {
		return append(dst, amf0Boolean, 1)
	}
	return append(dst, amf0Boolean, 0)
}

// AppendString appends s as an AMF0 string (marker 0x02), or as a long
// string (0x0C) when it is longer than 65535 bytes.
func AppendString(dst []byte, s string) []byte {
	if len(s) <= math.MaxUint16 {
		dst = binary.BigEndian.AppendUint16(append(dst, amf0String), uint16(len(s)))
		return append(dst, s...)
	}
	// A Go string cannot exceed what a u32 length holds on the platforms
	// this is built for in practice; AppendAMF0 reports the impossible case.
	dst = binary.BigEndian.AppendUint32(append(dst, amf0LongString), uint32(len(s)))
	return append(dst, s...)
}

// AppendNull appends AMF0 null (marker 0x05).
func AppendNull(dst []byte) []byte { return append(dst, amf0Null) }

// AppendKey appends a property name of an object or ECMA array: a u16
// length and the bytes, no marker. A name longer than 65535 bytes is cut to
// its first 65535 bytes, the most AMF0 can carry.
func AppendKey(dst []byte, key string) []byte {
	if len(key) > math.MaxUint16 {
		key = key[:math.MaxUint16]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	return append(dst, key...)
}

// AppendObjectStart appends the marker of an anonymous object (0x03); its
// properties (AppendKey + a value each) and AppendObjectEnd follow.
func AppendObjectStart(dst []byte) []byte { return append(dst, amf0Object) }

// AppendECMAArrayStart appends the marker of an ECMA array (0x08) and its
// approximate property count; properties and AppendObjectEnd follow. The
// count is the 4 bytes just before the returned length, for writers that
// patch it once they know it.
func AppendECMAArrayStart(dst []byte, count uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, amf0ECMAArray), count)
}

// AppendStrictArrayStart appends the marker of a strict array (0x0A) and its
// element count; exactly count values follow, with no end marker.
func AppendStrictArrayStart(dst []byte, count uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, amf0StrictArray), count)
}

// AppendObjectEnd appends the end of an object or ECMA array: an empty name
// and the object-end marker (00 00 09).
func AppendObjectEnd(dst []byte) []byte { return append(dst, amfObjectEnd...) }

// CutString reports whether b starts with the AMF0 string s (marker 0x02,
// u16 length, the bytes) and returns what follows it. It reads no further
// and allocates nothing: it routes script data on the hot path (is this
// onMetaData? is there an @setDataFrame to cut?) without decoding it.
func CutString(b []byte, s string) (rest []byte, ok bool) {
	n := 3 + len(s)
	if len(s) > math.MaxUint16 || len(b) < n || b[0] != amf0String ||
		int(binary.BigEndian.Uint16(b[1:])) != len(s) || string(b[3:n]) != s {
		return b, false
	}
	return b[n:], true
}
