package recorder

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readBootID is the kernel's identity of this boot; empty when unknown.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// kernelClockSynced reports whether the kernel says its wall clock is
// synchronised (an NTP daemon set it and keeps it): adjtimex does not
// answer TIME_ERROR and STA_UNSYNC is clear. Read-only: modes 0.
func kernelClockSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
