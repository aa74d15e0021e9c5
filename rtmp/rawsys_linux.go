//go:build linux

package rtmp

import (
	"syscall"
	"unsafe"
)

// The hot path's socket calls (the publisher's reads, the shared writer's
// writev) are made as raw system calls: the sockets are non-blocking, so
// the calls never block, and the runtime need not be told about them. Made
// through syscall.Syscall, each one enters and leaves the runtime's
// syscall state (entersyscall/exitsyscall), and the first one after the
// process was idle wakes the runtime's sysmon thread from its deep sleep,
// which then polls every 20 µs for a while: at the message rate of one
// stream (68 per second) that is a wake-up of a second thread per message.

// readNonblock reads from a non-blocking descriptor once, retrying EINTR.
// The error is an Errno, 0 for none: compared as an error interface it
// cost a call per read.
func readNonblock(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), 0
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}
