//go:build !linux

package recorder

import "time"

// bootClock is not available here: the monotonic clock is used, and a
// resume from suspend counts as a step of the wall clock.
func bootClock() (time.Duration, bool) { return 0, false }
