package amf

import (
	"bytes"
	"math"
	"testing"
)

func FuzzDecodeAMF0(f *testing.F) {
	for _, tc := range amfDecodeCases() {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"02 00 07 5f 72 65",                   // truncated string
		"0a ff ff ff ff 05 05 05 05 05",       // lying strict array count
		"03 00 01 61 03 00 01 61 03 00 01 61", // nested objects without ends
		"03 00 01 61 07 00 00 00 00 09",       // self reference
		"11 0a 07 07 66 6f 6f",                // AMF3 externalizable
		"11 09 03 01 09 00",                   // AMF3 self reference
		"20", "04", "0e", "09",
	} {
		f.Add(amfH(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// CutString agrees with the decoder about a leading string.
		if len(in) >= 3 {
			s := string(in[3:min(len(in), 3+(int(in[1])<<8|int(in[2])))])
			if rest, ok := CutString(in, s); ok {
				if v, err := DecodeAMF0(in[:len(in)-len(rest)]); err != nil || len(v) != 1 || v[0] != s {
					t.Fatalf("CutString found %q; DecodeAMF0 of it: %v, %v", s, v, err)
				}
			}
		}
		vals, err := DecodeAMF0(in)
		if err != nil {
			if vals != nil {
				t.Fatalf("values returned with error %v", err)
			}
			return
		}
		enc, err := AppendAMF0(nil, vals...)
		if err != nil {
			if amfReencodable(vals) {
				t.Fatalf("AppendAMF0 of decoded %#v: %v", vals, err)
			}
			return
		}
		got, err := DecodeAMF0(enc)
		if err != nil {
			t.Fatalf("DecodeAMF0 of re-encoded % x: %v", enc, err)
		}
		if !amfEqual(vals, got) {
			t.Fatalf("round trip mismatch\n got %#v\nwant %#v", got, vals)
		}
		// The encoding of decoded values is canonical.
		if enc2, err := AppendAMF0(nil, got...); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("second encoding differs: %v\n% x\n% x", err, enc, enc2)
		}
	})
}

// amfReencodable reports whether AppendAMF0 should accept a decoded value:
// only AMF3 byte arrays and AMF3 keys longer than 65535 bytes have no AMF0 form.
func amfReencodable(v any) bool {
	switch v := v.(type) {
	case []byte:
		return false
	case []any:
		for _, e := range v {
			if !amfReencodable(e) {
				return false
			}
		}
	case Object:
		return amfReencodableProps(v)
	case ECMAArray:
		return amfReencodableProps(v)
	}
	return true
}

func amfReencodableProps(props []Property) bool {
	for _, p := range props {
		if len(p.Key) > math.MaxUint16 || !amfReencodable(p.Value) {
			return false
		}
	}
	return true
}

// amfEqual is reflect.DeepEqual for decoded values, except that NaN equals NaN.
func amfEqual(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || math.IsNaN(a) && math.IsNaN(b))
	case Date:
		b, ok := b.(Date)
		return ok && a.TimeZone == b.TimeZone && amfEqual(a.Millis, b.Millis)
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !amfEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	case Object:
		b, ok := b.(Object)
		return ok && amfEqualProps(a, b)
	case ECMAArray:
		b, ok := b.(ECMAArray)
		return ok && amfEqualProps(a, b)
	default: // nil, bool, string, Undefined
		return a == b
	}
}

func amfEqualProps(a, b []Property) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !amfEqual(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
