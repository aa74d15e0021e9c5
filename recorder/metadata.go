package recorder

import "github.com/tapedeck/tapedeck/remux/amf"

// metaProp is one primitive property of an onMetaData: a publisher's,
// carried into the next segment's header, or one the FLV writer sets.
// Nested values (objects, arrays) are not carried over.
type metaProp struct {
	key  string
	kind metaKind
	num  float64
	b    bool
	s    string
}

// metaKind says which field of a metaProp holds its value.
type metaKind uint8

const (
	metaNumber metaKind = iota
	metaBoolean
	metaString
)

// Bounds on what is carried over from an onMetaData.
const (
	metaMaxProps = 256
	// metaMaxString: ffmpeg rejects AMF strings of 256 bytes or more in
	// onMetaData, so longer ones are dropped rather than written.
	metaMaxString = 256
	// metaMaxValues bounds the AMF0 values decoded from one onMetaData. Our
	// own placeholder (flv.go) pads with one null per reserved byte: up to
	// 8192 keyframe entries of 18 bytes plus the index's two numbers per
	// entry, more than the network default of amf.Decoder allows.
	metaMaxValues = 1 << 18
)

// parseMetadata returns the primitive properties of an onMetaData body
// (the AMF0 string "onMetaData" followed by an ECMA array or object), nil
// when b is not one or does not decode.
func parseMetadata(b []byte) []metaProp {
	vals, err := amf.Decoder{MaxValues: metaMaxValues}.Decode(b)
	if err != nil || len(vals) < 2 || vals[0] != "onMetaData" {
		return nil
	}
	var props []metaProp
	for _, p := range amf.Props(vals[1]) {
		if len(props) == metaMaxProps {
			break
		}
		mp := metaProp{key: p.Key}
		switch v := p.Value.(type) {
		case float64:
			mp.kind, mp.num = metaNumber, v
		case bool:
			mp.kind, mp.b = metaBoolean, v
		case string:
			if len(v) >= metaMaxString {
				continue
			}
			mp.kind, mp.s = metaString, v
		default:
			continue
		}
		props = append(props, mp)
	}
	return props
}

// appendMetaProp appends p as an AMF0 property: its name and its value.
func appendMetaProp(b []byte, p metaProp) []byte {
	b = amf.AppendKey(b, p.key)
	switch p.kind {
	case metaNumber:
		return amf.AppendNumber(b, p.num)
	case metaBoolean:
		return amf.AppendBoolean(b, p.b)
	default:
		return amf.AppendString(b, p.s)
	}
}
