package recorder

import "time"

// BootInfo is what the kernel says of the boot a reading was taken in: a
// step of the wall clock across a restart of tapedeck (NTP setting the
// clock of a box without a real-time clock after a run named segments by
// the wrong one) is seen by comparing two runs of the same boot.
type BootInfo struct {
	// ID tells boots apart (/proc/sys/kernel/random/boot_id).
	ID string
	// Since is the steady time since the boot (CLOCK_BOOTTIME): readings
	// of two runs of one boot are comparable.
	Since time.Duration
	// Synced: the kernel says its wall clock is NTP-synchronised
	// (adjtimex: no STA_UNSYNC, no TIME_ERROR), so a name read on it is
	// true and need not be checked again.
	Synced bool
}

// BootClock is a Clock that knows the boot it runs in. SystemClock is one
// on Linux, and so is a ClockSteps over one.
type BootClock interface {
	Clock
	// Boot reads the boot's identity and steady time; ok false when the
	// system cannot tell.
	Boot() (b BootInfo, ok bool)
}

// Boot reads the boot's identity, CLOCK_BOOTTIME and the kernel's
// synchronisation status (Linux only).
func (c *SystemClock) Boot() (BootInfo, bool) {
	if c.bootID == "" || !c.boot {
		return BootInfo{}, false
	}
	since, ok := bootClock()
	if !ok {
		return BootInfo{}, false
	}
	return BootInfo{ID: c.bootID, Since: since, Synced: kernelClockSynced()}, true
}

// Boot is the Boot of the clock s observes, if it is a BootClock.
func (s *ClockSteps) Boot() (BootInfo, bool) {
	if bc, ok := s.clock.(BootClock); ok {
		return bc.Boot()
	}
	return BootInfo{}, false
}

// bootOf reads c's boot, if c is a BootClock.
func bootOf(c Clock) (BootInfo, bool) {
	if bc, ok := c.(BootClock); ok {
		return bc.Boot()
	}
	return BootInfo{}, false
}
