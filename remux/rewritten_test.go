package remux

import "testing"

// TestRewrittenOnce: every holder of a message gets the same rewrite, made
// once; it lives as long as the message or its last holder, and a cached
// one costs no allocation.
func TestRewrittenOnce(t *testing.T) {
	pool := NewPool()
	m := pool.Get(4)
	copy(m.Payload, "abcd")
	m.Kind = KindVideo
	calls := 0
	rewrite := func(src *Message) *Message {
		calls++
		r := pool.Get(2)
		copy(r.Payload, src.Payload[2:])
		src.Release()
		return r
	}
	a := m.Rewritten(rewrite)
	b := m.Rewritten(rewrite)
	if calls != 1 || a != b || string(a.Payload) != "cd" {
		t.Fatalf("rewrite ran %d times, %p and %p, payload %q; want once, one message, \"cd\"", calls, a, b, a.Payload)
	}
	if m.Refs() != 1 || a.Refs() != 3 {
		t.Fatalf("refs: message %d, rewrite %d; want 1 and 3 (the message's and two holders')", m.Refs(), a.Refs())
	}
	if n := testing.AllocsPerRun(100, func() { m.Rewritten(rewrite).Release() }); n != 0 {
		t.Errorf("a cached rewrite: %.1f allocations, want 0", n)
	}
	a.Release()
	m.Release() // the message goes: its reference to the rewrite with it
	if b.Refs() != 1 {
		t.Fatalf("rewrite refs after the message went: %d, want 1 (b's)", b.Refs())
	}
	b.Release()

	// A nil rewrite keeps nothing and leaves the caller's reference.
	m = pool.Get(1)
	if r := m.Rewritten(func(src *Message) *Message { src.Release(); return nil }); r != nil || m.Refs() != 1 {
		t.Fatalf("nil rewrite: %v, refs %d; want nil and 1", r, m.Refs())
	}
	m.Release()
}
