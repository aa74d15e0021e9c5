//go:build unix && !linux

package rtmp

import "syscall"

// readNonblock reads from a non-blocking descriptor once, retrying EINTR
// (rawsys_linux.go makes it a raw system call).
func readNonblock(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
