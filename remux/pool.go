package remux

import (
	"math/bits"
	"sync"
)

// Pool hands out messages whose payload buffers are recycled by size class,
// so a steady stream allocates nothing. The classes are quarter octaves from
// 256 B to 16 MiB (256, 320, 384, 448, 512, 640, ...): a buffer is at most
// 25 % (on average about 12 %) larger than the message it holds. With whole
// octaves a 2.5 Mbit/s stream's ~10 KB inter frames sat in 16 KiB buffers,
// and the GOP cache, which holds a GOP of them, cost 1.5× its media.
// The zero value is not usable; use NewPool.
type Pool struct {
	classes [poolClasses]sync.Pool
}

const (
	poolMinShift = 8  // 256 B
	poolMaxShift = 24 // 16 MiB, the RTMP message length ceiling
	poolSteps    = 4  // classes per octave
	poolClasses  = (poolMaxShift-poolMinShift)*poolSteps + 1
	poolBorrow   = 2 // classes up an empty class may take a buffer from
)

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

// poolClass is the smallest class whose buffers hold n bytes: 0 holds 256;
// above, octave o = (c-1)/4 holds 2^(8+o) × (1 + j/4) with j = (c-1)%4 + 1.
func poolClass(n int) int {
	if n <= 1<<poolMinShift {
		return 0
	}
	e := bits.Len(uint(n - 1)) // 2^(e-1) < n <= 2^e
	j := (n-1-1<<(e-1))>>(e-3) + 1
	return (e-1-poolMinShift)*poolSteps + j
}

// poolClassSize is the buffer size of class c.
func poolClassSize(c int) int {
	if c == 0 {
		return 1 << poolMinShift
	}
	o, j := (c-1)/poolSteps, (c-1)%poolSteps+1
	base := 1 << (poolMinShift + o)
	return base + j*base/poolSteps
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
	// An empty class borrows from the next ones up (at most 56 % larger)
	// before it allocates: with quarter octaves a stream's frames spread
	// over more classes, and a buffer allocated because its class ran dry
	// at a keyframe would otherwise sit idle in the pool while the next
	// class up has spares.
	for up := c + 1; m == nil && up <= c+poolBorrow && up < poolClasses; up++ {
		m, _ = p.classes[up].Get().(*Message)
	}
	if m == nil {
		m = &Message{pool: p, buf: make([]byte, poolClassSize(c))}
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
