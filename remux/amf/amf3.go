package amf

import (
	"bytes"
	"fmt"
	"strconv"
)

// AMF3 markers (values behind the AMF0 AVM+ marker 0x11).
const (
	amf3Undefined = 0x00
	amf3Null      = 0x01
	amf3False     = 0x02
	amf3True      = 0x03
	amf3Integer   = 0x04
	amf3Double    = 0x05
	amf3String    = 0x06
	amf3XMLDoc    = 0x07
	amf3Date      = 0x08
	amf3Array     = 0x09
	amf3Object    = 0x0A
	amf3XML       = 0x0B
	amf3ByteArray = 0x0C
)

// amf3Tables are the AMF3 reference tables of one AVM+ value.
type amf3Tables struct {
	strs   []string
	objs   []amfRef
	traits []amf3Traits
}

type amf3Traits struct {
	dynamic bool
	names   []string // sealed member names
	size    int      // bytes of the names, charged when the traits are referenced
}

// u29 reads an AMF3 variable-length unsigned 29-bit integer.
func (d *amfDecoder) u29(what string) (uint32, error) {
	var v uint32
	for i := range 4 {
		p, err := d.take(1, what)
		if err != nil {
			return 0, err
		}
		if i == 3 {
			return v<<8 | uint32(p[0]), nil
		}
		v = v<<7 | uint32(p[0]&0x7f)
		if p[0]&0x80 == 0 {
			break
		}
	}
	return v, nil
}

// amf3Str reads a UTF-8-vr: an inline string or a string-table reference.
func (d *amfDecoder) amf3Str(what string) (string, error) {
	start := d.off
	h, err := d.u29(what)
	if err != nil {
		return "", err
	}
	if h&1 == 0 {
		idx := h >> 1
		if uint64(idx) >= uint64(len(d.a3.strs)) {
			return "", fmt.Errorf("%s reference %d at offset %d: only %d strings to refer to", what, idx, start, len(d.a3.strs))
		}
		s := d.a3.strs[idx]
		return s, d.charge(0, len(s))
	}
	p, err := d.take(uint64(h>>1), what)
	if err != nil {
		return "", err
	}
	s := string(p)
	if s != "" { // the empty string is never added to the table
		d.a3.strs = append(d.a3.strs, s)
	}
	return s, nil
}

// amf3Header reads a U29 whose low bit distinguishes an object-table reference
// (0) from an inline value (1). For a reference it returns the resolved value
// and ref=true; otherwise the remaining 28 bits.
func (d *amfDecoder) amf3Header(start int, what string) (h uint32, v any, ref bool, err error) {
	h, err = d.u29(what)
	if err != nil || h&1 != 0 {
		return h >> 1, nil, false, err
	}
	v, err = d.deref(d.a3.objs, h>>1, start, what+" reference")
	return 0, v, true, err
}

// amf3Value decodes one AMF3 value.
func (d *amfDecoder) amf3Value() (any, error) {
	start := d.off
	m, err := d.marker("amf3: value")
	if err != nil {
		return nil, err
	}
	switch m {
	case amf3Undefined:
		return Undefined{}, nil
	case amf3Null:
		return nil, nil
	case amf3False:
		return false, nil
	case amf3True:
		return true, nil
	case amf3Integer:
		u, err := d.u29("amf3: integer")
		if u&(1<<28) != 0 { // sign-extend the 29-bit value
			return float64(int32(u) - 1<<29), err
		}
		return float64(u), err
	case amf3Double:
		return d.f64("amf3: double")
	case amf3String:
		return d.amf3Str("amf3: string")
	case amf3XMLDoc, amf3XML, amf3ByteArray:
		what := "amf3: xml"
		if m == amf3ByteArray {
			what = "amf3: byte array"
		}
		n, v, ref, err := d.amf3Header(start, what)
		if err != nil || ref {
			return v, err
		}
		p, err := d.take(uint64(n), what)
		if err != nil {
			return nil, err
		}
		if m == amf3ByteArray {
			v = bytes.Clone(p)
		} else {
			v = string(p)
		}
		d.close(d.a3.objs, d.open(&d.a3.objs, start), v)
		return v, nil
	case amf3Date:
		_, v, ref, err := d.amf3Header(start, "amf3: date")
		if err != nil || ref {
			return v, err
		}
		ms, err := d.f64("amf3: date")
		if err != nil {
			return nil, err
		}
		d.close(d.a3.objs, d.open(&d.a3.objs, start), Date{Millis: ms})
		return Date{Millis: ms}, nil
	case amf3Array:
		return d.amf3Array(start)
	case amf3Object:
		return d.amf3Object(start)
	default:
		return nil, fmt.Errorf("amf3: unsupported marker 0x%02x at offset %d", m, start)
	}
}

// amf3Pairs reads name/value pairs up to the empty name that ends them and
// appends them to props: an array's associative part and an object's
// dynamic members are coded alike. what names the names in errors.
func (d *amfDecoder) amf3Pairs(props []Property, what string) ([]Property, error) {
	for {
		key, err := d.amf3Str(what)
		if err != nil {
			return nil, err
		}
		if key == "" {
			return props, nil
		}
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Key: key, Value: v})
	}
}

func (d *amfDecoder) amf3Array(start int) (any, error) {
	n, v, ref, err := d.amf3Header(start, "amf3: array")
	if err != nil || ref {
		return v, err
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	s := d.open(&d.a3.objs, start)
	pairs, err := d.amf3Pairs(nil, "amf3: array key")
	if err != nil {
		return nil, err
	}
	assoc := ECMAArray(pairs)
	if err := d.reserve(uint64(n), "amf3: array"); err != nil {
		return nil, err
	}
	dense := make([]any, 0, n)
	for range n {
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		dense = append(dense, v)
	}
	d.depth--
	if assoc == nil {
		v = dense
	} else {
		for i, e := range dense {
			assoc = append(assoc, Property{Key: strconv.Itoa(i), Value: e})
		}
		v = assoc
	}
	d.close(d.a3.objs, s, v)
	return v, nil
}

func (d *amfDecoder) amf3Object(start int) (any, error) {
	h, v, ref, err := d.amf3Header(start, "amf3: object")
	if err != nil || ref {
		return v, err
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	s := d.open(&d.a3.objs, start)
	var tr amf3Traits
	switch {
	case h&1 == 0: // traits reference
		idx := h >> 1
		if uint64(idx) >= uint64(len(d.a3.traits)) {
			return nil, fmt.Errorf("amf3: traits reference %d at offset %d: only %d traits to refer to", idx, start, len(d.a3.traits))
		}
		tr = d.a3.traits[idx]
		if err := d.charge(0, tr.size); err != nil {
			return nil, err
		}
	case h&2 != 0: // externalizable: the body format is known only to the class
		class, err := d.amf3Str("amf3: class name")
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("amf3: externalizable object of class %q at offset %d is not supported", class, start)
	default:
		tr.dynamic = h&4 != 0
		n := uint64(h >> 3)
		if _, err := d.amf3Str("amf3: class name"); err != nil {
			return nil, err
		}
		if err := d.reserve(n, "amf3: sealed member names"); err != nil {
			return nil, err
		}
		tr.names = make([]string, 0, n)
		for range n {
			name, err := d.amf3Str("amf3: sealed member name")
			if err != nil {
				return nil, err
			}
			tr.names = append(tr.names, name)
			tr.size += len(name)
		}
		d.a3.traits = append(d.a3.traits, tr)
	}
	if err := d.reserve(uint64(len(tr.names)), "amf3: sealed members"); err != nil {
		return nil, err
	}
	obj := make(Object, 0, len(tr.names))
	for _, name := range tr.names {
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		obj = append(obj, Property{Key: name, Value: v})
	}
	if tr.dynamic {
		if obj, err = d.amf3Pairs(obj, "amf3: dynamic member name"); err != nil {
			return nil, err
		}
	}
	d.depth--
	d.close(d.a3.objs, s, obj)
	return obj, nil
}
