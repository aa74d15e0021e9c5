package amf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Object is an AMF0 anonymous object (marker 0x03) with properties in wire order.
// Typed objects (0x10) and AMF3 objects also decode to Object; their class name is dropped.
type Object []Property

// Property is one key/value pair of an Object or ECMAArray.
type Property struct {
	Key   string
	Value any
}

// Get returns the value of the first property named key.
func (o Object) Get(key string) (any, bool) { return amfGet(o, key) }

// String returns the first property named key if it is a string, else "".
func (o Object) String(key string) string { return amfString(o, key) }

// Number returns the first property named key if it is a number.
func (o Object) Number(key string) (float64, bool) { return amfNumber(o, key) }

// ECMAArray is an AMF0 ECMA array (0x08), e.g. onMetaData; same shape as Object.
// On the wire it carries an approximate count, which the decoder ignores and the
// encoder sets to len.
type ECMAArray []Property

// Get returns the value of the first property named key.
func (a ECMAArray) Get(key string) (any, bool) { return amfGet(a, key) }

// String returns the first property named key if it is a string, else "".
func (a ECMAArray) String(key string) string { return amfString(a, key) }

// Number returns the first property named key if it is a number.
func (a ECMAArray) Number(key string) (float64, bool) { return amfNumber(a, key) }

// Undefined is AMF0 undefined (0x06). Null decodes to Go nil.
type Undefined struct{}

// Date is AMF0 date (0x0B).
type Date struct {
	Millis   float64 // milliseconds since 1970-01-01 UTC
	TimeZone int16   // reserved; writers should send 0
}

// ErrTruncated is wrapped by decode errors caused by input that ends, or
// declares a length that runs, past the end of the buffer.
var ErrTruncated = errors.New("amf: truncated value")

func amfGet(props []Property, key string) (any, bool) {
	for _, p := range props {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func amfString(props []Property, key string) string {
	v, _ := amfGet(props, key)
	s, _ := v.(string)
	return s
}

func amfNumber(props []Property, key string) (float64, bool) {
	v, _ := amfGet(props, key)
	f, ok := v.(float64)
	return f, ok
}

// AMF0 markers.
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0MovieClip   = 0x04
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0Reference   = 0x07
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0A
	amf0Date        = 0x0B
	amf0LongString  = 0x0C
	amf0Unsupported = 0x0D
	amf0RecordSet   = 0x0E
	amf0XMLDocument = 0x0F
	amf0TypedObject = 0x10
	amf0AVMPlus     = 0x11
)

// Decoder limits. Input is untrusted network data.
const (
	amfMaxDepth    = 64      // nesting of objects and arrays
	amfMaxElements = 1 << 16 // values per DecodeAMF0 call, references counted expanded
	// amfMaxRefBytes bounds how many encoded bytes references may stand for in
	// total, so a few bytes of references cannot make a value that re-encodes
	// (for example when relaying metadata) to gigabytes.
	amfMaxRefBytes = 1 << 24
	amfObjectEnd   = "\x00\x00\x09"
)

// amfRef is an entry of a reference table: a complex value and what it cost to
// decode, charged again each time a reference resolves to it.
type amfRef struct {
	val   any
	done  bool // false while the value is still being decoded
	elems int  // values inside, itself included
	size  int  // encoded bytes, with nested references expanded
}

// amfSpan marks the start of a complex value registered in a reference table.
type amfSpan struct{ idx, off, elems, refBytes int }

// amfDecoder holds the state of one DecodeAMF0 call.
type amfDecoder struct {
	b        []byte
	off      int
	depth    int
	elems    int
	maxElems int
	refBytes int
	refs     []amfRef // AMF0 objects, typed objects, ECMA and strict arrays
	a3       amf3Tables
}

// DecodeAMF0 decodes every value in b. Value mapping: number→float64, boolean→bool,
// string/long string/XML doc→string, object/typed object→Object, ECMA array→ECMAArray,
// strict array→[]any, null→nil, undefined→Undefined{}, date→Date, 0x11 AVM+ → the AMF3 value
// decoded (AMF3: undefined, null, false, true, integer (U29, → float64), double, string (with the
// string reference table), date, array (dense part → []any, assoc part → ECMAArray), object
// (sealed/dynamic traits, → Object), byte array → []byte; XML/xmldoc → string; anything else → error).
// Reference marker 0x07 resolves against previously decoded complex values (objects, ECMA and strict arrays).
//
// Unsupported (0x0D) decodes as Undefined{}; MovieClip (0x04), RecordSet (0x0E) and
// unknown markers are errors. An object or ECMA array whose 00 00 09 end marker is
// missing (or cut short) at the very end of b ends there without error. An AMF3 array
// with both an associative and a dense part decodes to an ECMAArray holding the
// associative pairs followed by the dense values keyed "0", "1", ....
// Each 0x11 value starts with empty AMF3 reference tables.
//
// Decoding is bounded: nesting deeper than 64, more than 65536 values, or lengths
// exceeding the remaining input (errors.Is(err, ErrTruncated)) are errors.
// Returned strings and byte slices do not alias b.
func DecodeAMF0(b []byte) ([]any, error) { return Decoder{}.Decode(b) }

// Decoder decodes AMF0 with a chosen bound on the number of values. The zero
// Decoder is what DecodeAMF0 uses, sized for untrusted network input.
type Decoder struct {
	// MaxValues bounds the values one Decode builds, references counted
	// expanded; 0 means 65536. Raise it only for input whose size the
	// caller trusts, such as an onMetaData this program wrote itself.
	MaxValues int
}

// Decode decodes every value in b as DecodeAMF0 does, within d's bounds.
func (cfg Decoder) Decode(b []byte) ([]any, error) {
	d := amfDecoder{b: b, maxElems: cfg.MaxValues}
	if d.maxElems <= 0 {
		d.maxElems = amfMaxElements
	}
	vals := make([]any, 0, 4)
	for d.off < len(b) {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// take consumes n bytes; what names the item for the error, e.g. "amf0: string".
func (d *amfDecoder) take(n uint64, what string) ([]byte, error) {
	rem := len(d.b) - d.off
	if n > uint64(rem) {
		return nil, fmt.Errorf("%s at offset %d: length %d exceeds %d remaining bytes: %w",
			what, d.off, n, rem, ErrTruncated)
	}
	p := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

func (d *amfDecoder) u16(what string) (uint16, error) {
	p, err := d.take(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (d *amfDecoder) u32(what string) (uint32, error) {
	p, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *amfDecoder) f64(what string) (float64, error) {
	p, err := d.take(8, what)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
}

// marker reads a value's marker byte and charges one element for it.
func (d *amfDecoder) marker(what string) (byte, error) {
	p, err := d.take(1, what)
	if err != nil {
		return 0, err
	}
	return p[0], d.charge(1, 0)
}

// charge accounts for elems more values and refBytes more referenced bytes.
func (d *amfDecoder) charge(elems, refBytes int) error {
	d.elems += elems
	d.refBytes += refBytes
	if d.elems > d.maxElems {
		return fmt.Errorf("amf: more than %d values at offset %d", d.maxElems, d.off)
	}
	if d.refBytes > amfMaxRefBytes {
		return fmt.Errorf("amf: references at offset %d expand to more than %d bytes", d.off, amfMaxRefBytes)
	}
	return nil
}

// reserve checks that n more values, each at least one byte long, can follow.
// It runs before anything is allocated for them.
func (d *amfDecoder) reserve(n uint64, what string) error {
	if rem := len(d.b) - d.off; n > uint64(rem) {
		return fmt.Errorf("%s at offset %d: count %d exceeds %d remaining bytes: %w",
			what, d.off, n, rem, ErrTruncated)
	}
	if d.elems+int(n) > d.maxElems {
		return fmt.Errorf("%s at offset %d: count %d exceeds the limit of %d values", what, d.off, n, d.maxElems)
	}
	return nil
}

func (d *amfDecoder) enter(start int) error {
	d.depth++
	if d.depth > amfMaxDepth {
		return fmt.Errorf("amf: value at offset %d nested deeper than %d", start, amfMaxDepth)
	}
	return nil
}

// open registers the complex value whose marker is at start in tab before its
// contents are decoded, as the reference numbering requires.
func (d *amfDecoder) open(tab *[]amfRef, start int) amfSpan {
	*tab = append(*tab, amfRef{})
	// d.elems already counts this value's marker.
	return amfSpan{idx: len(*tab) - 1, off: start, elems: d.elems - 1, refBytes: d.refBytes}
}

func (d *amfDecoder) close(tab []amfRef, s amfSpan, v any) {
	tab[s.idx] = amfRef{
		val:   v,
		done:  true,
		elems: d.elems - s.elems,
		size:  d.off - s.off + d.refBytes - s.refBytes,
	}
}

// deref resolves reference idx in tab, charging the referenced value's cost.
func (d *amfDecoder) deref(tab []amfRef, idx uint32, start int, what string) (any, error) {
	if uint64(idx) >= uint64(len(tab)) {
		return nil, fmt.Errorf("%s %d at offset %d: only %d values to refer to", what, idx, start, len(tab))
	}
	r := tab[idx]
	if !r.done {
		return nil, fmt.Errorf("%s %d at offset %d: refers to a value that encloses it", what, idx, start)
	}
	// The reference marker was charged as one element already.
	if err := d.charge(r.elems-1, r.size); err != nil {
		return nil, err
	}
	return r.val, nil
}

// value decodes one AMF0 value.
func (d *amfDecoder) value() (any, error) {
	start := d.off
	m, err := d.marker("amf0: value")
	if err != nil {
		return nil, err
	}
	switch m {
	case amf0Number:
		return d.f64("amf0: number")
	case amf0Boolean:
		p, err := d.take(1, "amf0: boolean")
		if err != nil {
			return nil, err
		}
		return p[0] != 0, nil
	case amf0String:
		n, err := d.u16("amf0: string length")
		if err != nil {
			return nil, err
		}
		p, err := d.take(uint64(n), "amf0: string")
		return string(p), err
	case amf0LongString, amf0XMLDocument:
		n, err := d.u32("amf0: long string length")
		if err != nil {
			return nil, err
		}
		p, err := d.take(uint64(n), "amf0: long string")
		return string(p), err
	case amf0Null:
		return nil, nil
	case amf0Undefined, amf0Unsupported:
		return Undefined{}, nil
	case amf0Date:
		ms, err := d.f64("amf0: date")
		if err != nil {
			return nil, err
		}
		tz, err := d.u16("amf0: date time zone")
		return Date{Millis: ms, TimeZone: int16(tz)}, err
	case amf0Reference:
		idx, err := d.u16("amf0: reference")
		if err != nil {
			return nil, err
		}
		return d.deref(d.refs, uint32(idx), start, "amf0: reference")
	case amf0Object, amf0TypedObject:
		if m == amf0TypedObject {
			n, err := d.u16("amf0: class name length")
			if err != nil {
				return nil, err
			}
			if _, err := d.take(uint64(n), "amf0: class name"); err != nil {
				return nil, err
			}
		}
		s := d.open(&d.refs, start)
		props, err := d.props(start)
		if err != nil {
			return nil, err
		}
		d.close(d.refs, s, Object(props))
		return Object(props), nil
	case amf0ECMAArray:
		if _, err := d.u32("amf0: ECMA array count"); err != nil {
			return nil, err
		}
		s := d.open(&d.refs, start)
		props, err := d.props(start)
		if err != nil {
			return nil, err
		}
		d.close(d.refs, s, ECMAArray(props))
		return ECMAArray(props), nil
	case amf0StrictArray:
		n, err := d.u32("amf0: strict array count")
		if err != nil {
			return nil, err
		}
		if err := d.reserve(uint64(n), "amf0: strict array"); err != nil {
			return nil, err
		}
		if err := d.enter(start); err != nil {
			return nil, err
		}
		s := d.open(&d.refs, start)
		arr := make([]any, 0, n)
		for range n {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		d.depth--
		d.close(d.refs, s, arr)
		return arr, nil
	case amf0AVMPlus:
		d.a3 = amf3Tables{}
		return d.amf3Value()
	case amf0MovieClip:
		return nil, fmt.Errorf("amf0: MovieClip marker 0x04 at offset %d is not supported", start)
	case amf0RecordSet:
		return nil, fmt.Errorf("amf0: RecordSet marker 0x0e at offset %d is not supported", start)
	case amf0ObjectEnd:
		return nil, fmt.Errorf("amf0: object-end marker 0x09 at offset %d outside an object", start)
	default:
		return nil, fmt.Errorf("amf0: unknown marker 0x%02x at offset %d", m, start)
	}
}

// props decodes object properties up to and including the 00 00 09 end marker.
// Input that ends at, or inside, the end marker ends the object.
func (d *amfDecoder) props(start int) ([]Property, error) {
	if err := d.enter(start); err != nil {
		return nil, err
	}
	props := []Property{}
	for {
		if rem := d.b[d.off:]; len(rem) < len(amfObjectEnd) && string(rem) == amfObjectEnd[:len(rem)] {
			d.off = len(d.b)
			break
		}
		n, err := d.u16("amf0: property name length")
		if err != nil {
			return nil, err
		}
		if n == 0 && d.off < len(d.b) && d.b[d.off] == amf0ObjectEnd {
			d.off++
			break
		}
		key, err := d.take(uint64(n), "amf0: property name")
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Key: string(key), Value: v})
	}
	d.depth--
	return props, nil
}

// AppendAMF0 appends the AMF0 encoding of each value to dst. Accepts: float64, int, int32, int64,
// uint32 (→ number), bool, string (→ long string if > 65535 bytes), Object, ECMAArray, []any,
// nil (→ null), Undefined, Date. Any other type → error naming the Go type.
//
// Values nested deeper than DecodeAMF0 accepts (64) are an error, as are
// property names longer than 65535 bytes. On error dst is returned unextended.
func AppendAMF0(dst []byte, vals ...any) ([]byte, error) {
	out := dst
	for _, v := range vals {
		var err error
		if out, err = amfAppend(out, v, 0); err != nil {
			return dst, err
		}
	}
	return out, nil
}

func amfAppend(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, amf0Null), nil
	case float64:
		return AppendNumber(b, v), nil
	case int:
		return AppendNumber(b, float64(v)), nil
	case int32:
		return AppendNumber(b, float64(v)), nil
	case int64:
		return AppendNumber(b, float64(v)), nil
	case uint32:
		return AppendNumber(b, float64(v)), nil
	case bool:
		return AppendBoolean(b, v), nil
	case string:
		if len(v) <= math.MaxUint16 {
			b = binary.BigEndian.AppendUint16(append(b, amf0String), uint16(len(v)))
			return append(b, v...), nil
		}
		if uint64(len(v)) > math.MaxUint32 {
			return nil, fmt.Errorf("amf0: string of %d bytes is too long", len(v))
		}
		b = binary.BigEndian.AppendUint32(append(b, amf0LongString), uint32(len(v)))
		return append(b, v...), nil
	case Undefined:
		return append(b, amf0Undefined), nil
	case Date:
		b = binary.BigEndian.AppendUint64(append(b, amf0Date), math.Float64bits(v.Millis))
		return binary.BigEndian.AppendUint16(b, uint16(v.TimeZone)), nil
	case Object:
		return amfAppendProps(append(b, amf0Object), v, depth+1)
	case ECMAArray:
		if uint64(len(v)) > math.MaxUint32 {
			return nil, fmt.Errorf("amf0: ECMA array of %d properties is too long", len(v))
		}
		b = binary.BigEndian.AppendUint32(append(b, amf0ECMAArray), uint32(len(v)))
		return amfAppendProps(b, v, depth+1)
	case []any:
		if depth+1 > amfMaxDepth {
			return nil, fmt.Errorf("amf0: values nested deeper than %d", amfMaxDepth)
		}
		if uint64(len(v)) > math.MaxUint32 {
			return nil, fmt.Errorf("amf0: strict array of %d values is too long", len(v))
		}
		b = binary.BigEndian.AppendUint32(append(b, amf0StrictArray), uint32(len(v)))
		for _, e := range v {
			var err error
			if b, err = amfAppend(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	default:
		return nil, fmt.Errorf("amf0: cannot encode Go type %T", v)
	}
}

func amfAppendProps(b []byte, props []Property, depth int) ([]byte, error) {
	if depth > amfMaxDepth {
		return nil, fmt.Errorf("amf0: values nested deeper than %d", amfMaxDepth)
	}
	for _, p := range props {
		if len(p.Key) > math.MaxUint16 {
			return nil, fmt.Errorf("amf0: property name of %d bytes is too long", len(p.Key))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Key)))
		b = append(b, p.Key...)
		var err error
		if b, err = amfAppend(b, p.Value, depth); err != nil {
			return nil, err
		}
	}
	return append(b, amfObjectEnd...), nil
}

// Props returns the properties of v when it is an Object or an ECMAArray
// (which decoders and peers use interchangeably for maps), else nil.
func Props(v any) []Property {
	switch m := v.(type) {
	case Object:
		return m
	case ECMAArray:
		return m
	}
	return nil
}
