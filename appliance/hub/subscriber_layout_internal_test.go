package hub

import (
	"testing"
	"unsafe"
)

// The Subscriber is padded to 128 bytes so the allocator starts each one
// on a cache line (subscriber.go); a field added or removed must move the
// padding with it, or the fields Poll touches straddle two lines again.
func TestSubscriberIs128Bytes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is for 64-bit platforms")
	}
	if n := unsafe.Sizeof(Subscriber{}); n != 128 {
		t.Errorf("Subscriber is %d bytes, want 128: adjust its padding", n)
	}
}
