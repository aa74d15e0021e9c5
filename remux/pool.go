package remux

import (
	"slices"
	"sync"
	"time"
)

// Pool hands out messages whose payload buffers are recycled by size class,
// so a steady stream allocates nothing. Up to 32 KiB the classes are the Go
// allocator's own size classes (256, 288, 320, ... 9472, 9728, 10240, 10880,
// 12288, ... 32768): any buffer size in between is rounded up to one of them
// by the runtime anyway, so a class between two of them would waste the gap
// without saving a byte, and a class coarser than them wastes more. Above,
// quarter octaves (40 KiB, 48 KiB, ... 16 MiB; page multiples). A buffer is
// at most 19 % (up to 32 KiB) or 25 % larger than the message it holds.
// The GOP cache holds a GOP of a stream's messages in these buffers: for a
// 2.5 Mbit/s stream's 6–15 KB inter frames the rounding costs 6 % of its
// bytes (quarter octaves throughout: 9 %; whole octaves: 33 %).
// The zero value is not usable; use NewPool.
type Pool struct {
	classes [poolClasses]sync.Pool
}

// goSizeClasses are the Go runtime's size classes from 256 B to 32 KiB
// (internal/runtime/gc/sizeclasses.go; TestPoolClassesAreGoSizeClasses
// checks them against the running runtime).
var goSizeClasses = [...]int{
	256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896,
	1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456,
	4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880,
	12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
	28672, 32768,
}

const (
	poolLargeShift = 15 // 32 KiB: the last Go size class
	poolMaxShift   = 24 // 16 MiB, the RTMP message length ceiling
	poolSteps      = 4  // large classes per octave
	poolClasses    = len(goSizeClasses) + (poolMaxShift-poolLargeShift)*poolSteps
	poolBorrow     = 12 // classes up an empty class may take a buffer from (up to 2× its size)
)

// poolSizes is every class's buffer size, ascending.
var poolSizes = func() (s [poolClasses]int) {
	n := copy(s[:], goSizeClasses[:])
	for o := poolLargeShift; o < poolMaxShift; o++ {
		base := 1 << o
		for j := 1; j <= poolSteps; j++ {
			s[n] = base + j*base/poolSteps
			n++
		}
	}
	return s
}()

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

// poolClass is the smallest class whose buffers hold n bytes; poolClasses
// when none does.
func poolClass(n int) int {
	c, _ := slices.BinarySearch(poolSizes[:], n)
	return c
}

// poolClassSize is the buffer size of class c.
func poolClassSize(c int) int { return poolSizes[c] }

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
	// An empty class borrows from the classes above (up to twice its size)
	// before it allocates. The pool holds, per class, the most buffers a
	// moment needed: a GOP of larger frames leaves spares in the classes
	// above, and a GOP of smaller ones would otherwise allocate anew while
	// they sit idle. Replaying the recording clip (TestPoolHoldsAboutOneGOP:
	// 16 streams, keyframes in phase), the pool held 1.24–1.27× the largest
	// GOP per stream this way, 1.38× borrowing up to 1.5×, and 1.31× with
	// the earlier quarter octaves borrowing two classes up.
	for up := c + 1; m == nil && up <= c+poolBorrow && up < poolClasses && poolSizes[up] <= 2*poolSizes[c]; up++ {
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
	m.Arrived = time.Time{}
	p.classes[c].Put(m)
}
