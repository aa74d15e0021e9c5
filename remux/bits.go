package remux

// BitReader reads the big-endian bit fields and Exp-Golomb codes of codec
// configuration (AudioSpecificConfig, SPS RBSP with emulation prevention
// removed). Reading past the end returns 0 and marks the reader bad, so a
// parser reads a whole structure and checks Ok once.
type BitReader struct {
	b   []byte
	pos int
	bad bool
}

// NewBitReader reads b from its first bit.
func NewBitReader(b []byte) *BitReader { return &BitReader{b: b} }

// U reads n bits (n <= 32) as an unsigned number.
func (r *BitReader) U(n int) uint32 {
	var v uint32
	for range n {
		if r.pos >= len(r.b)*8 {
			r.bad = true
			return 0
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8))&1
		r.pos++
	}
	return v
}

// Skip steps over n bits.
func (r *BitReader) Skip(n int) {
	r.pos += n
	if r.pos > len(r.b)*8 {
		r.bad = true
	}
}

// UE reads an unsigned Exp-Golomb value; one needing more than 31 bits
// marks the reader bad (no field of a parameter set is that large).
func (r *BitReader) UE() uint32 {
	zeros := 0
	for r.U(1) == 0 {
		if r.bad || zeros == 31 {
			r.bad = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.U(zeros)
}

// SE reads a signed Exp-Golomb value.
func (r *BitReader) SE() int32 {
	v := r.UE()
	if v&1 != 0 {
		return int32(v/2 + 1)
	}
	return -int32(v / 2)
}

// Ok reports whether every read so far was within the data.
func (r *BitReader) Ok() bool { return !r.bad }

// Fail marks the reader bad: the parser met a value out of range, and the
// structure is to be treated as unreadable.
func (r *BitReader) Fail() { r.bad = true }
