package upload

import "sync"

// buffers keeps the part buffers between uploads, so that a backlog of
// thousands of segments, or retries every few seconds during an outage,
// reuse the same PartSize × Concurrency bytes instead of making garbage
// of that size per attempt (a Pi's GC would let the heap grow by as much).
type buffers struct {
	mu   sync.Mutex
	free [][]byte
}

// get returns a buffer of n bytes.
func (b *buffers) get(n int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, buf := range b.free {
		if int64(cap(buf)) >= n {
			b.free = append(b.free[:i], b.free[i+1:]...)
			return buf[:n]
		}
	}
	return make([]byte, n)
}

// put gives a buffer back; at most MaxConcurrency are kept, the largest.
func (b *buffers) put(buf []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free = append(b.free, buf[:0])
	if len(b.free) > MaxConcurrency {
		small := 0
		for i, f := range b.free {
			if cap(f) < cap(b.free[small]) {
				small = i
			}
		}
		b.free = append(b.free[:small], b.free[small+1:]...)
	}
}
