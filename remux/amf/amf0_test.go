package amf

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// Wire builders for tests, independent of the encoder under test.

// amfH decodes hex with optional spaces, e.g. "02 00 07".
func amfH(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func amfCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// amfK is an object key: u16 length + bytes, no marker.
func amfK(s string) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...) }

// amfS is an AMF0 string value.
func amfS(s string) []byte { return append([]byte{0x02}, amfK(s)...) }

// amfN is an AMF0 number value.
func amfN(f float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0x00}, math.Float64bits(f))
}

// amfEnd is the object end marker.
func amfEnd() []byte { return amfH("00 00 09") }

// amfConnectWire is an ffmpeg play-style connect command.
func amfConnectWire() []byte {
	return amfCat(
		amfS("connect"), amfN(1),
		amfH("03"),
		amfK("app"), amfS("live"),
		amfK("flashVer"), amfS("LNX 9,0,124,2"),
		amfK("tcUrl"), amfS("rtmp://127.0.0.1:1935/live"),
		amfK("fpad"), amfH("01 00"),
		amfK("capabilities"), amfN(15),
		amfK("audioCodecs"), amfN(4071),
		amfK("videoCodecs"), amfN(252),
		amfK("videoFunction"), amfN(1),
		amfEnd(),
	)
}

func amfConnectValues() []any {
	return []any{"connect", 1.0, Object{
		{"app", "live"},
		{"flashVer", "LNX 9,0,124,2"},
		{"tcUrl", "rtmp://127.0.0.1:1935/live"},
		{"fpad", false},
		{"capabilities", 15.0},
		{"audioCodecs", 4071.0},
		{"videoCodecs", 252.0},
		{"videoFunction", 1.0},
	}}
}

// amfResultWire is the connect _result as nginx-rtmp/ffmpeg servers send it.
func amfResultWire() []byte {
	return amfCat(
		amfH("02 00 07 5f 72 65 73 75 6c 74"), // "_result"
		amfH("00 3f f0 00 00 00 00 00 00"),    // 1
		amfH("03"), amfK("fmsVer"), amfS("FMS/3,0,1,123"), amfK("capabilities"), amfN(31), amfEnd(),
		amfH("03"),
		amfK("level"), amfS("status"),
		amfK("code"), amfS("NetConnection.Connect.Success"),
		amfK("description"), amfS("Connection succeeded."),
		amfK("objectEncoding"), amfN(0),
		amfEnd(),
	)
}

func amfResultValues() []any {
	return []any{"_result", 1.0,
		Object{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31.0}},
		Object{
			{"level", "status"},
			{"code", "NetConnection.Connect.Success"},
			{"description", "Connection succeeded."},
			{"objectEncoding", 0.0},
		},
	}
}

type amfDecodeCase struct {
	name string
	in   []byte
	want []any
}

func amfDecodeCases() []amfDecodeCase {
	date := math.Float64bits(1.7e12)
	return []amfDecodeCase{
		{"connect _result", amfResultWire(), amfResultValues()},
		{"createStream", amfH("02 00 0c 63 72 65 61 74 65 53 74 72 65 61 6d 00 40 00 00 00 00 00 00 00 05"),
			[]any{"createStream", 2.0, nil}},
		{"ffmpeg connect", amfConnectWire(), amfConnectValues()},
		{"booleans", amfH("01 00 01 01 01 ff"), []any{false, true, true}},
		{"empty string", amfH("02 00 00"), []any{""}},
		{"undefined and unsupported", amfH("06 0d"), []any{Undefined{}, Undefined{}}},
		{"empty object", amfH("03 00 00 09"), []any{Object{}}},
		{"ECMA array count 0 with properties",
			amfCat(amfS("onMetaData"), amfH("08 00 00 00 00"),
				amfK("duration"), amfN(0), amfK("width"), amfN(1280), amfK("encoder"), amfS("Lavf61.7.100"), amfEnd()),
			[]any{"onMetaData", ECMAArray{{"duration", 0.0}, {"width", 1280.0}, {"encoder", "Lavf61.7.100"}}}},
		{"ECMA array count too large", amfCat(amfH("08 00 00 10 00"), amfK("a"), amfN(1), amfEnd()),
			[]any{ECMAArray{{"a", 1.0}}}},
		{"ECMA array missing end at end of input", amfCat(amfH("08 00 00 00 01"), amfK("a"), amfN(1)),
			[]any{ECMAArray{{"a", 1.0}}}},
		{"object missing end at end of input", amfCat(amfH("03"), amfK("a"), amfS("x")),
			[]any{Object{{"a", "x"}}}},
		{"object end cut to 00 00", amfCat(amfH("03"), amfK("a"), amfS("x"), amfH("00 00")),
			[]any{Object{{"a", "x"}}}},
		{"nested objects missing ends", amfCat(amfH("03"), amfK("a"), amfH("03"), amfK("b"), amfN(2)),
			[]any{Object{{"a", Object{{"b", 2.0}}}}}},
		{"empty key", amfCat(amfH("03"), amfK(""), amfN(3), amfEnd()), []any{Object{{"", 3.0}}}},
		{"strict array", amfCat(amfH("0a 00 00 00 03"), amfN(1), amfS("two"), amfH("05")),
			[]any{[]any{1.0, "two", nil}}},
		{"empty strict array", amfH("0a 00 00 00 00"), []any{[]any{}}},
		{"date", amfCat(amfH("0b"), binary.BigEndian.AppendUint64(nil, date), amfH("ff c4")),
			[]any{Date{Millis: 1.7e12, TimeZone: -60}}},
		{"long string", amfH("0c 00 00 00 05 68 65 6c 6c 6f"), []any{"hello"}},
		{"XML document", amfH("0f 00 00 00 04 3c 61 2f 3e"), []any{"<a/>"}},
		{"typed object", amfCat(amfH("10"), amfK("Foo"), amfK("a"), amfN(1), amfEnd()),
			[]any{Object{{"a", 1.0}}}},
		{"nested objects",
			amfCat(amfH("03"), amfK("a"), amfH("03"), amfK("b"), amfH("08 00 00 00 00"), amfK("c"),
				amfH("0a 00 00 00 01 05"), amfEnd(), amfEnd(), amfK("d"), amfH("01 01"), amfEnd()),
			[]any{Object{{"a", Object{{"b", ECMAArray{{"c", []any{nil}}}}}}, {"d", true}}}},
		{"reference to earlier object",
			amfCat(amfH("03"), amfK("a"), amfN(1), amfEnd(), amfH("07 00 00")),
			[]any{Object{{"a", 1.0}}, Object{{"a", 1.0}}}},
		{"reference numbering is pre-order",
			// [ {x:[]}, ref 2 ] : the strict array is 0, the object 1, the inner array 2.
			amfCat(amfH("0a 00 00 00 02 03"), amfK("x"), amfH("0a 00 00 00 00"), amfEnd(), amfH("07 00 02")),
			[]any{[]any{Object{{"x", []any{}}}, []any{}}}},
		{"AMF3 string", amfH("11 06 07 66 6f 6f"), []any{"foo"}},
		{"AMF3 integer", amfH("11 04 05"), []any{5.0}},
		{"AMF3 integer max", amfH("11 04 bf ff ff ff"), []any{268435455.0}},
		{"AMF3 integer min", amfH("11 04 c0 80 80 00"), []any{-268435456.0}},
		{"AMF3 integer -1", amfH("11 04 ff ff ff ff"), []any{-1.0}},
		{"AMF3 integer two bytes", amfH("11 04 81 00"), []any{128.0}},
		{"AMF3 constants", amfH("11 00 11 01 11 02 11 03"), []any{Undefined{}, nil, false, true}},
		{"AMF3 double", amfCat(amfH("11 05"), amfN(2.5)[1:]), []any{2.5}},
		{"AMF3 date", amfCat(amfH("11 08 01"), amfN(1e12)[1:]), []any{Date{Millis: 1e12}}},
		{"AMF3 byte array", amfH("11 0c 07 01 02 03"), []any{[]byte{1, 2, 3}}},
		{"AMF3 xml", amfH("11 0b 09 3c 61 2f 3e"), []any{"<a/>"}},
		{"AMF3 dynamic object with string reference",
			// {foo: "foo" (string reference 0), bar: 5}
			amfH("11 0a 0b 01 07 66 6f 6f 06 00 07 62 61 72 04 05 01"),
			[]any{Object{{"foo", "foo"}, {"bar", 5.0}}}},
		{"AMF3 sealed objects, traits and object references",
			// [ Pt{x:1,y:2}, Pt{x:3,y:4} (traits ref 0), object ref 1 ]
			amfH("11 09 07 01  0a 23 05 50 74 03 78 03 79 04 01 04 02  0a 01 04 03 04 04  0a 02"),
			[]any{[]any{Object{{"x", 1.0}, {"y", 2.0}}, Object{{"x", 3.0}, {"y", 4.0}}, Object{{"x", 1.0}, {"y", 2.0}}}}},
		{"AMF3 associative and dense array", amfH("11 09 03 03 61 06 03 62 01 04 07"),
			[]any{ECMAArray{{"a", "b"}, {"0", 7.0}}}},
		{"AMF3 associative array", amfH("11 09 01 03 61 04 01 01"), []any{ECMAArray{{"a", 1.0}}}},
		{"AMF3 inside AMF0 command", amfCat(amfS("onX"), amfH("05 11 06 05 68 69")), []any{"onX", nil, "hi"}},
		{"empty input", nil, []any{}},
	}
}

func TestDecodeAMF0(t *testing.T) {
	for _, tc := range amfDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeAMF0(tc.in)
			if err != nil {
				t.Fatalf("DecodeAMF0(% x): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeAMF0(% x)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecodeAMF0StringsDoNotAliasInput(t *testing.T) {
	in := amfS("abc")
	got, err := DecodeAMF0(in)
	if err != nil {
		t.Fatal(err)
	}
	in[3] = 'X'
	if got[0] != "abc" {
		t.Fatalf("decoded string changed with input: %q", got[0])
	}
}

func TestAppendAMF0Wire(t *testing.T) {
	tests := []struct {
		name string
		vals []any
		want []byte
	}{
		{"connect _result", amfResultValues(), amfResultWire()},
		{"createStream", []any{"createStream", 2.0, nil},
			amfH("02 00 0c 63 72 65 61 74 65 53 74 72 65 61 6d 00 40 00 00 00 00 00 00 00 05")},
		{"ffmpeg connect", amfConnectValues(), amfConnectWire()},
		{"integer types", []any{int(1), int32(-2), int64(1 << 40), uint32(math.MaxUint32)},
			amfCat(amfN(1), amfN(-2), amfN(1<<40), amfN(math.MaxUint32))},
		{"bool undefined null", []any{true, false, Undefined{}, nil}, amfH("01 01 01 00 06 05")},
		{"ECMA array", []any{ECMAArray{{"a", 1.0}}}, amfCat(amfH("08 00 00 00 01"), amfK("a"), amfN(1), amfEnd())},
		{"strict array", []any{[]any{"x", Object{}}}, amfCat(amfH("0a 00 00 00 02"), amfS("x"), amfH("03 00 00 09"))},
		{"date", []any{Date{Millis: 1, TimeZone: 2}}, amfCat(amfH("0b"), amfN(1)[1:], amfH("00 02"))},
		{"string at 65535 bytes", []any{strings.Repeat("a", 65535)}, amfS(strings.Repeat("a", 65535))},
		{"long string", []any{strings.Repeat("a", 65536)},
			amfCat(amfH("0c 00 01 00 00"), bytes.Repeat([]byte("a"), 65536))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte{0xaa}
			got, err := AppendAMF0(prefix, tc.vals...)
			if err != nil {
				t.Fatalf("AppendAMF0: %v", err)
			}
			if !bytes.Equal(got, append([]byte{0xaa}, tc.want...)) {
				t.Fatalf("AppendAMF0\n got % x\nwant aa % x", got, tc.want)
			}
		})
	}
}

func TestAMF0RoundTrip(t *testing.T) {
	deep := any(Object{{"leaf", 1.0}})
	for range amfMaxDepth - 1 {
		deep = Object{{"o", deep}}
	}
	tests := []struct {
		name string
		in   any
		want any // nil means same as in
	}{
		{"number", 3.25, nil},
		{"negative zero", math.Copysign(0, -1), nil},
		{"infinity", math.Inf(-1), nil},
		{"int", 7, 7.0},
		{"int32", int32(-7), -7.0},
		{"int64", int64(1 << 53), float64(1 << 53)},
		{"uint32", uint32(4000000000), 4e9},
		{"bool", true, nil},
		{"string", "héllo", nil},
		{"empty string", "", nil},
		{"long string", strings.Repeat("xy", 40000), nil},
		{"object", Object{{"a", 1.0}, {"b", "c"}, {"", nil}}, nil},
		{"empty object", Object{}, nil},
		{"ECMA array", ECMAArray{{"duration", 12.5}, {"stereo", true}}, nil},
		{"empty ECMA array", ECMAArray{}, nil},
		{"strict array", []any{1.0, "a", nil, Undefined{}, []any{}}, nil},
		{"undefined", Undefined{}, nil},
		{"date", Date{Millis: 1.7e12, TimeZone: -120}, nil},
		{"nested", Object{{"a", ECMAArray{{"b", []any{Object{{"c", Date{}}}}}}}}, nil},
		{"64 levels", deep, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in
			}
			b, err := AppendAMF0(nil, tc.in)
			if err != nil {
				t.Fatalf("AppendAMF0: %v", err)
			}
			got, err := DecodeAMF0(b)
			if err != nil {
				t.Fatalf("DecodeAMF0(% x): %v", b, err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, want)
			}
			if f, ok := want.(float64); ok && math.Signbit(f) != math.Signbit(got[0].(float64)) {
				t.Fatalf("sign of %v lost", f)
			}
		})
	}
}

func TestAMF0RoundTripNaN(t *testing.T) {
	b, err := AppendAMF0(nil, math.NaN())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAMF0(b)
	if err != nil || len(got) != 1 || !math.IsNaN(got[0].(float64)) {
		t.Fatalf("NaN round trip: %v, %v", got, err)
	}
}

func TestDecodeAMF0Errors(t *testing.T) {
	nest := func(n int, open, close []byte) []byte {
		return amfCat(bytes.Repeat(open, n), bytes.Repeat(close, n))
	}
	bigStr := amfCat(amfH("0a 00 00 00 01 0c 00 00 ff ff"), bytes.Repeat([]byte("z"), 0xffff))
	tests := []struct {
		name    string
		in      []byte
		wantIs  error  // checked with errors.Is when set
		wantSub string // checked as a substring when set
	}{
		{"truncated string", amfH("02 00 07 5f 72 65"), ErrTruncated, "amf0: string at offset 3: length 7 exceeds 3 remaining bytes"},
		{"truncated string length", amfH("02 00"), ErrTruncated, "string length"},
		{"truncated number", amfH("00 3f f0 00"), ErrTruncated, "number"},
		{"truncated boolean", amfH("01"), ErrTruncated, "boolean"},
		{"truncated long string", amfH("0c 7f ff ff ff 61"), ErrTruncated, "long string"},
		{"truncated date", amfH("0b 00 00 00 00 00 00 00 00 00"), ErrTruncated, "date"},
		{"truncated ECMA count", amfH("08 00 00"), ErrTruncated, "ECMA array count"},
		{"truncated property name", amfH("03 00 05 61 62"), ErrTruncated, "property name"},
		{"property without value", amfCat(amfH("03"), amfK("a")), ErrTruncated, "value"},
		{"lying strict array count", amfH("0a ff ff ff ff 05 05 05 05 05"), ErrTruncated, "count 4294967295 exceeds 5 remaining bytes"},
		{"strict array short of values", amfH("0a 00 00 00 02 02 00"), ErrTruncated, "string length"},
		{"depth bomb objects", nest(100, amfCat(amfH("03"), amfK("a")), nil), nil, "nested deeper than 64"},
		{"depth bomb strict arrays", nest(100, amfH("0a 00 00 00 01"), nil), nil, "nested deeper than 64"},
		{"depth bomb ECMA arrays", nest(65, amfCat(amfH("08 00 00 00 00"), amfK("a")), amfEnd()), nil, "nested deeper than 64"},
		{"depth bomb AMF3 arrays", amfCat(amfH("11"), bytes.Repeat(amfH("09 03 01"), 100)), nil, "nested deeper than 64"},
		{"too many values", bytes.Repeat(amfH("05"), amfMaxElements+1), nil, "more than 65536 values"},
		{"strict array over value limit", amfCat(amfH("0a 00 01 00 01"), bytes.Repeat(amfH("05"), amfMaxElements+1)), nil, "exceeds the limit of 65536 values"},
		{"reference amplification", amfCat(bigStr, bytes.Repeat(amfH("07 00 00"), 300)), nil, "expand to more than"},
		{"unknown marker", amfH("05 20"), nil, "amf0: unknown marker 0x20 at offset 1"},
		{"MovieClip", amfH("04"), nil, "MovieClip marker 0x04 at offset 0"},
		{"RecordSet", amfH("0e"), nil, "RecordSet"},
		{"stray object end", amfH("09"), nil, "object-end marker 0x09 at offset 0 outside an object"},
		{"reference out of range", amfH("03 00 00 09 07 00 05"), nil, "amf0: reference 5 at offset 4: only 1 values"},
		{"self reference", amfCat(amfH("03"), amfK("a"), amfH("07 00 00"), amfEnd()), nil, "encloses"},
		{"AMF3 truncated string", amfH("11 06 09 61"), ErrTruncated, "amf3: string"},
		{"AMF3 truncated U29", amfH("11 04 ff ff"), ErrTruncated, "amf3: integer"},
		{"AMF3 missing value", amfH("11"), ErrTruncated, "amf3: value"},
		{"AMF3 lying dense count", amfH("11 09 ff ff ff ff 01 01"), ErrTruncated, "amf3: array"},
		{"AMF3 lying byte array length", amfH("11 0c ff ff ff ff"), ErrTruncated, "byte array"},
		{"AMF3 lying sealed count", amfH("11 0a bf ff ff f3 01 01"), ErrTruncated, "sealed member names"},
		{"AMF3 vector", amfH("11 0d 01 00"), nil, "amf3: unsupported marker 0x0d at offset 1"},
		{"AMF3 externalizable", amfH("11 0a 07 07 66 6f 6f"), nil, `externalizable object of class "foo"`},
		{"AMF3 string reference out of range", amfH("11 06 04"), nil, "reference 2 at offset 2: only 0 strings"},
		{"AMF3 tables reset per AVM+ marker", amfH("11 06 07 66 6f 6f 11 06 00"), nil, "only 0 strings"},
		{"AMF3 object reference out of range", amfH("11 0a 00"), nil, "amf3: object reference 0 at offset 1: only 0 values"},
		{"AMF3 traits reference out of range", amfH("11 0a 05"), nil, "traits reference 1"},
		{"AMF3 self reference", amfH("11 09 03 01 09 00"), nil, "encloses"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeAMF0(tc.in)
			if err == nil {
				t.Fatalf("DecodeAMF0 = %#v, want error", got)
			}
			if got != nil {
				t.Errorf("values %#v returned with error", got)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %v", err, tc.wantIs)
			}
			if tc.wantIs == nil && errors.Is(err, ErrTruncated) {
				t.Errorf("error %q unexpectedly wraps ErrTruncated", err)
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Errorf("error %q does not contain %q", err, tc.wantSub)
			}
		})
	}
}

// TestDecodeAMF0LyingCountsDoNotAllocate checks that declared counts and
// lengths are bounded by the input before anything is allocated.
func TestDecodeAMF0LyingCountsDoNotAllocate(t *testing.T) {
	for _, in := range [][]byte{
		amfH("0a ff ff ff ff 05 05 05 05 05"),
		amfH("0c ff ff ff ff 61 61 61 61 61"),
		amfH("11 09 ff ff ff ff 01 01 01 01"),
		amfH("11 0a bf ff ff f3 01 01 01 01"),
		amfH("11 0c ff ff ff ff 01 01 01 01"),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeAMF0(in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("DecodeAMF0(% x) = %v, want ErrTruncated", in, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("DecodeAMF0(% x) allocated %d bytes", in, n)
		}
	}
}

func TestAppendAMF0Errors(t *testing.T) {
	tooDeep := any(1.0)
	for range amfMaxDepth + 1 {
		tooDeep = []any{tooDeep}
	}
	tooDeepObject := any(Object{})
	for range amfMaxDepth {
		tooDeepObject = ECMAArray{{"a", tooDeepObject}}
	}
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name    string
		val     any
		wantSub string
	}{
		{"unsupported type", int8(1), "cannot encode Go type int8"},
		{"map", map[string]any{}, "cannot encode Go type map[string]interface {}"},
		{"nested unsupported type", Object{{"a", []any{[]byte{1}}}}, "cannot encode Go type []uint8"},
		{"pointer", &Object{}, "cannot encode Go type *amf.Object"},
		{"long key", Object{{strings.Repeat("k", 65536), nil}}, "property name of 65536 bytes"},
		{"too deep", tooDeep, "nested deeper than 64"},
		{"too deep objects", tooDeepObject, "nested deeper than 64"},
		{"cyclic", cyclic, "nested deeper than 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{1, 2}
			got, err := AppendAMF0(dst, "ok", tc.val)
			if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("AppendAMF0 error = %v, want %q", err, tc.wantSub)
			}
			if !bytes.Equal(got, []byte{1, 2}) {
				t.Fatalf("AppendAMF0 returned % x on error, want dst unchanged", got)
			}
		})
	}
}

func TestAMFPropertyAccessors(t *testing.T) {
	o := Object{{"app", "live"}, {"txn", 2.0}, {"app", "second"}, {"nil", nil}}
	if v, ok := o.Get("app"); !ok || v != "live" {
		t.Errorf("Get(app) = %v, %v", v, ok)
	}
	if v, ok := o.Get("nil"); !ok || v != nil {
		t.Errorf("Get(nil) = %v, %v", v, ok)
	}
	if _, ok := o.Get("missing"); ok {
		t.Error("Get(missing) found")
	}
	if s := o.String("app"); s != "live" {
		t.Errorf("String(app) = %q", s)
	}
	if s := o.String("txn"); s != "" {
		t.Errorf("String(txn) = %q, want empty for a number", s)
	}
	if n, ok := o.Number("txn"); !ok || n != 2 {
		t.Errorf("Number(txn) = %v, %v", n, ok)
	}
	if _, ok := o.Number("app"); ok {
		t.Error("Number(app) ok for a string")
	}
	a := ECMAArray{{"width", 1280.0}, {"encoder", "obs"}}
	if v, ok := a.Get("encoder"); !ok || v != "obs" {
		t.Errorf("ECMAArray.Get = %v, %v", v, ok)
	}
	if a.String("encoder") != "obs" || a.String("missing") != "" {
		t.Error("ECMAArray.String")
	}
	if n, ok := a.Number("width"); !ok || n != 1280 {
		t.Errorf("ECMAArray.Number = %v, %v", n, ok)
	}
}

func TestProps(t *testing.T) {
	props := []Property{{Key: "a", Value: 1.0}}
	for _, tc := range []struct {
		v    any
		want []Property
	}{
		{Object(props), props}, {ECMAArray(props), props}, {[]any{1.0}, nil}, {"a", nil}, {nil, nil},
	} {
		if got := Props(tc.v); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Props(%#v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func BenchmarkDecodeAMF0Connect(b *testing.B) {
	in := amfConnectWire()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := DecodeAMF0(in); err != nil {
			b.Fatal(err)
		}
	}
}
