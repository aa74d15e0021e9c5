//go:build unix && !linux

package rtmp

import "syscall"

// readNonblock reads from a non-blocking descriptor once, retrying EINTR;
// the error is an Errno, 0 for none (rawsys_linux.go makes it a raw
// system call).
func readNonblock(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, err := syscall.Read(int(fd), b)
		switch e := err.(type) {
		case nil:
			return n, 0
		case syscall.Errno:
			if e != syscall.EINTR {
				return 0, e
			}
		default:
			return 0, syscall.EIO
		}
	}
}
