package remux

import (
	"math/bits"
	"sync"
)

// Pool hands out messages whose payload buffers are recycled by size class
// (powers of two from 256 B to 16 MiB), so a steady stream allocates nothing.
// The zero value is not usable; use NewPool.
type Pool struct {
	classes [poolClasses]sync.Pool
}

const (
	poolMinShift = 8  // 256 B
	poolMaxShift = 24 // 16 MiB, the RTMP message length ceiling
	poolClasses  = poolMaxShift - poolMinShift + 1
)

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

func poolClass(n int) int {
	if n <= 1<<poolMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - poolMinShift
}

// Get returns a message with one reference and a Payload of length n. The
// payload content is undefined until the caller fills it.
func (p *Pool) Get(n int) *Message {
	c := poolClass(n)
	if c >= poolClasses {
		// Larger than any class: not pooled.
		m := &Message{Payload: make([]byte, n)}
		m.refs.Store(1)
		return m
	}
	m, _ := p.classes[c].Get().(*Message)
	if m == nil {
		m = &Message{pool: p, buf: make([]byte, 1<<(c+poolMinShift))}
	}
	m.refs.Store(1)
	m.Payload = m.buf[:n]
	return m
}

func (p *Pool) put(m *Message) {
	c := poolClass(cap(m.buf))
	m.Payload = nil
	m.Frame = Frame{}
	m.Kind = 0
	m.Timestamp = 0
	p.classes[c].Put(m)
}
