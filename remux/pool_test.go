package remux

import "testing"

// TestPoolClassesBoundWaste checks that every message length gets a buffer
// that holds it, at most 25 % larger (256 B minimum; the Go size classes
// below 32 KiB: at most 19 %), and that a buffer returns to the class it
// came from.
func TestPoolClassesBoundWaste(t *testing.T) {
	prev := 0
	for c := range poolClasses {
		size := poolClassSize(c)
		if size <= prev {
			t.Fatalf("class %d: size %d not above class %d's %d", c, size, c-1, prev)
		}
		if got := poolClass(size); got != c {
			t.Fatalf("poolClass(%d) = %d, want %d (its own class)", size, got, c)
		}
		if got := poolClass(size + 1); c+1 < poolClasses && got != c+1 {
			t.Fatalf("poolClass(%d) = %d, want %d", size+1, got, c+1)
		}
		prev = size
	}
	if last := poolClassSize(poolClasses - 1); last != 1<<poolMaxShift {
		t.Fatalf("largest class %d, want %d", last, 1<<poolMaxShift)
	}
	for _, n := range []int{1, 255, 256, 257, 300, 1000, 4096, 4097, 10258, 27081, 102983, 1 << 20, 5<<20 + 3, 1 << 24} {
		size := poolClassSize(poolClass(n))
		if size < n {
			t.Fatalf("length %d: class of %d bytes does not hold it", n, size)
		}
		if n > 256 && float64(size) > 1.25*float64(n) {
			t.Fatalf("length %d: class of %d bytes wastes more than 25 %%", n, size)
		}
	}
}

// TestPoolRecycles checks that a released message's buffer comes back for
// the next message of its class and that a steady Get/Release cycle
// allocates nothing.
func TestPoolRecycles(t *testing.T) {
	p := NewPool()
	m := p.Get(10258)
	if len(m.Payload) != 10258 || cap(m.buf) != 10880 {
		t.Fatalf("Get(10258): len %d cap %d, want 10258 in a 10880-byte buffer", len(m.Payload), cap(m.buf))
	}
	m.Release()
	// With its class empty, a message borrows a spare from a class above,
	// but not one more than twice its size.
	q := NewPool()
	spare := q.Get(12288 + 1) // class 13568
	spare.Release()
	if b := q.Get(12000); cap(b.buf) != 13568 && !raceEnabled {
		t.Fatalf("Get(12000) with its class empty got a %d-byte buffer, want the 13568-byte spare", cap(b.buf))
	}
	big := q.Get(81920) // 80 KiB
	big.Release()
	if b := q.Get(32768); cap(b.buf) != 32768 {
		t.Fatalf("Get(32768) got a %d-byte buffer: borrowed one 2.5 times its size", cap(b.buf))
	}
	if huge := p.Get(1<<24 + 1); huge.pool != nil || len(huge.Payload) != 1<<24+1 {
		t.Fatalf("a message above 16 MiB must be unpooled and exact")
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() {
		m := p.Get(10000)
		m.Release()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per Get/Release, want 0", allocs)
	}
}

// TestPoolClassesAreGoSizeClasses checks that, up to 32 KiB, a pool buffer is
// exactly what the Go allocator hands out for its message's length anyway
// (the runtime rounds an allocation up to its size class), so the pool's
// rounding costs nothing the runtime would not, and that above 32 KiB the
// classes are whole pages.
func TestPoolClassesAreGoSizeClasses(t *testing.T) {
	goRounds := func(n int) int { return cap(append([]byte(nil), make([]byte, n)...)) }
	for _, size := range poolSizes {
		if size > 1<<poolLargeShift {
			if size%8192 != 0 {
				t.Errorf("class of %d bytes above 32 KiB is not a multiple of the 8 KiB page", size)
			}
			continue
		}
		for _, n := range []int{size - 1, size, size + 1} {
			if n < 256 || n > 1<<poolLargeShift {
				continue
			}
			if got, want := poolClassSize(poolClass(n)), goRounds(n); got != want {
				t.Errorf("length %d: pool buffer %d bytes, the runtime's size class %d", n, got, want)
			}
		}
	}
}
