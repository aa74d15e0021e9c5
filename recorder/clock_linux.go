package recorder

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootClock reads CLOCK_BOOTTIME: steady like the monotonic clock, but it
// also counts the time the machine was suspended, when the wall clock
// moves on too. With the monotonic clock a resume would look like a step
// of the wall clock by the time asleep.
func bootClock() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
