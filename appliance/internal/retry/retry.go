// Package retry holds the reconnect schedule shared by the push relays
// and the camera pulls: exponential backoff with jitter, and the defaults
// both managers give their retry and timeout options.
package retry

import (
	"math/rand/v2"
	"time"
)

// Defaults of the managers' options left at zero.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	// DefaultTimeout bounds dialling and each request or write.
	DefaultTimeout = 10 * time.Second
)

// Bounds returns the backoff bounds with the defaults for values that are
// not positive, and maxD raised to minD if it is below it.
func Bounds(minD, maxD time.Duration) (time.Duration, time.Duration) {
	minD = Or(minD, DefaultMinBackoff)
	maxD = Or(maxD, DefaultMaxBackoff)
	return minD, max(maxD, minD)
}

// Or returns d, or def when d is not positive (an option left at zero).
func Or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Backoff returns the wait before attempt n+1 after n failures in a row:
// minD doubled n times with up to 50% jitter on top, never more than maxD
// (at the cap the jitter goes downwards, up to a quarter, so a fleet of
// boxes that lost the same uplink does not come back in step). r is a
// uniform random number in [0, 1), see Jitter; tests pass fixed ones.
func Backoff(n int, minD, maxD time.Duration, r float64) time.Duration {
	base := minD
	for i := 0; i < n && base < maxD; i++ {
		base *= 2
	}
	d := base + time.Duration(r*float64(base)/2)
	if d > maxD {
		d = maxD - time.Duration(r*float64(maxD)/4)
	}
	return max(d, minD)
}

// Jitter returns a uniform random number in [0, 1) for Backoff.
func Jitter() float64 { return rand.Float64() }
