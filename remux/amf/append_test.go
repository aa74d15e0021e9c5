package amf

import (
	"bytes"
	"strings"
	"testing"
)

// TestAppenders checks each one-item writer against the AMF0 spec's byte
// layout (amf0-file-format-specification §2) and against AppendAMF0, which
// encodes the same values through interfaces.
func TestAppenders(t *testing.T) {
	long := strings.Repeat("x", 65536)
	tests := []struct {
		name string
		got  []byte
		want []byte
		same []any // what AppendAMF0 encodes identically, if anything
	}{
		{"number 1", AppendNumber(nil, 1), amfH("00 3f f0 00 00 00 00 00 00"), []any{1.0}},
		{"number -0.5", AppendNumber(nil, -0.5), amfH("00 bf e0 00 00 00 00 00 00"), []any{-0.5}},
		{"true", AppendBoolean(nil, true), amfH("01 01"), []any{true}},
		{"false", AppendBoolean(nil, false), amfH("01 00"), []any{false}},
		{"string", AppendString(nil, "onMetaData"), amfH("02 00 0a 6f 6e 4d 65 74 61 44 61 74 61"), []any{"onMetaData"}},
		{"empty string", AppendString(nil, ""), amfH("02 00 00"), []any{""}},
		{"long string", AppendString(nil, long), amfCat(amfH("0c 00 01 00 00"), []byte(long)), []any{long}},
		{"null", AppendNull(nil), amfH("05"), []any{nil}},
		{"key", AppendKey(nil, "width"), amfH("00 05 77 69 64 74 68"), nil},
		{"key cut to 65535", AppendKey(nil, long), amfCat(amfH("ff ff"), []byte(long[:65535])), nil},
		{"object", AppendObjectEnd(AppendNumber(AppendKey(AppendObjectStart(nil), "a"), 1)),
			amfH("03 00 01 61 00 3f f0 00 00 00 00 00 00 00 00 09"), []any{Object{{Key: "a", Value: 1.0}}}},
		{"ECMA array", AppendObjectEnd(AppendBoolean(AppendKey(AppendECMAArrayStart(nil, 1), "b"), true)),
			amfH("08 00 00 00 01 00 01 62 01 01 00 00 09"), []any{ECMAArray{{Key: "b", Value: true}}}},
		{"strict array", AppendNull(AppendNull(AppendStrictArrayStart(nil, 2))),
			amfH("0a 00 00 00 02 05 05"), []any{[]any{nil, nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got, tc.want) {
				t.Errorf("got % x\nwant % x", head(tc.got), head(tc.want))
			}
			if tc.same == nil {
				return
			}
			enc, err := AppendAMF0(nil, tc.same...)
			if err != nil || !bytes.Equal(enc, tc.got) {
				t.Errorf("AppendAMF0(%v) = % x, %v; the one-item writers wrote % x", tc.same, head(enc), err, head(tc.got))
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// TestAppendersDoNotAllocate: writing into a buffer with room costs nothing,
// which is why the one-item writers exist beside AppendAMF0.
func TestAppendersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		b := AppendString(buf[:0], "onMetaData")
		b = AppendECMAArrayStart(b, 2)
		b = AppendNumber(AppendKey(b, "duration"), 12.5)
		b = AppendBoolean(AppendKey(b, "hasVideo"), true)
		b = AppendStrictArrayStart(AppendKey(b, "pad"), 1)
		b = AppendObjectEnd(AppendNull(b))
		buf = b
	})
	if n != 0 {
		t.Errorf("%v allocations per onMetaData body", n)
	}
}

// TestDecoderMaxValues: the default bound refuses what a raised one accepts.
func TestDecoderMaxValues(t *testing.T) {
	in := AppendStrictArrayStart(nil, 100_000)
	for range 100_000 {
		in = AppendNull(in)
	}
	if _, err := DecodeAMF0(in); err == nil || !strings.Contains(err.Error(), "limit of 65536 values") {
		t.Fatalf("DecodeAMF0 of 100000 nulls: %v, want the value limit", err)
	}
	vals, err := Decoder{MaxValues: 1 << 18}.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if arr, ok := vals[0].([]any); len(vals) != 1 || !ok || len(arr) != 100_000 {
		t.Fatalf("decoded %d values, first %T", len(vals), vals[0])
	}
	if _, err := (Decoder{MaxValues: 10}).Decode(bytes.Repeat(amfH("05"), 11)); err == nil {
		t.Error("11 values decoded under MaxValues 10")
	}
}

func TestCutString(t *testing.T) {
	meta := AppendECMAArrayStart(AppendString(nil, "onMetaData"), 0)
	for _, tc := range []struct {
		name string
		in   []byte
		s    string
		rest []byte
		ok   bool
	}{
		{"onMetaData", meta, "onMetaData", amfH("08 00 00 00 00"), true},
		{"@setDataFrame then onMetaData", append(AppendString(nil, "@setDataFrame"), meta...), "@setDataFrame", meta, true},
		{"another string", meta, "onCuePoint", meta, false},
		{"a prefix of it", AppendString(nil, "onMetaDataX"), "onMetaData", nil, false},
		{"long string marker", amfH("0c 00 00 00 0a 6f 6e 4d 65 74 61 44 61 74 61"), "onMetaData", nil, false},
		{"cut", meta[:8], "onMetaData", nil, false},
		{"empty string", amfH("02 00 00 05"), "", amfH("05"), true},
	} {
		rest, ok := CutString(tc.in, tc.s)
		if ok != tc.ok || ok && !bytes.Equal(rest, tc.rest) || !ok && !bytes.Equal(rest, tc.in) {
			t.Errorf("%s: CutString = % x, %v; want % x, %v", tc.name, rest, ok, tc.rest, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CutString(meta, "onMetaData") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
