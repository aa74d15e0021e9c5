package retry

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	minD, maxD := time.Second, 30*time.Second
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		for n := 0; n < 40; n++ {
			d := Backoff(n, minD, maxD, r)
			if d < minD || d > maxD {
				t.Fatalf("Backoff(%d, r=%v) = %v outside [%v, %v]", n, r, d, minD, maxD)
			}
			// Below the cap it grows: at least the doubled base, at most 1.5 times it.
			base := minD << min(n, 10)
			if base < maxD && d < base {
				t.Errorf("Backoff(%d, r=%v) = %v < base %v", n, r, d, base)
			}
			if base < maxD && d > base+base/2 {
				t.Errorf("Backoff(%d, r=%v) = %v > 1.5 x base %v", n, r, d, base)
			}
		}
	}
	if d := Backoff(0, minD, maxD, 0); d != minD {
		t.Errorf("first Backoff = %v, want %v", d, minD)
	}
	if d := Backoff(100, minD, maxD, 0.999); d < maxD*3/4 {
		t.Errorf("capped Backoff = %v, want >= 3/4 of %v", d, maxD)
	}
	// Jitter spreads the capped delays.
	if Backoff(20, minD, maxD, 0) == Backoff(20, minD, maxD, 0.9) {
		t.Error("no jitter at the cap")
	}
}

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		name             string
		minIn, maxIn     time.Duration
		wantMin, wantMax time.Duration
	}{
		{"zero: defaults", 0, 0, DefaultMinBackoff, DefaultMaxBackoff},
		{"negative: defaults", -time.Second, -time.Second, DefaultMinBackoff, DefaultMaxBackoff},
		{"set: kept", 200 * time.Millisecond, time.Second, 200 * time.Millisecond, time.Second},
		{"max below min: raised", 5 * time.Second, time.Second, 5 * time.Second, 5 * time.Second},
		{"min above default max", time.Minute, 0, time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotMin, gotMax := Bounds(tc.minIn, tc.maxIn)
			if gotMin != tc.wantMin || gotMax != tc.wantMax {
				t.Errorf("Bounds(%v, %v) = %v, %v; want %v, %v", tc.minIn, tc.maxIn, gotMin, gotMax, tc.wantMin, tc.wantMax)
			}
		})
	}
}

func TestOr(t *testing.T) {
	for _, tc := range []struct{ d, def, want time.Duration }{
		{0, time.Second, time.Second},
		{-1, time.Second, time.Second},
		{time.Millisecond, time.Second, time.Millisecond},
	} {
		if got := Or(tc.d, tc.def); got != tc.want {
			t.Errorf("Or(%v, %v) = %v, want %v", tc.d, tc.def, got, tc.want)
		}
	}
}

func TestJitterInRange(t *testing.T) {
	seen := map[float64]bool{}
	for range 100 {
		r := Jitter()
		if r < 0 || r >= 1 {
			t.Fatalf("Jitter() = %v outside [0, 1)", r)
		}
		seen[r] = true
	}
	if len(seen) < 50 {
		t.Errorf("Jitter gave only %d distinct values in 100 calls", len(seen))
	}
}
