//go:build linux || darwin || freebsd

package rtmp

import "syscall"

const canWaitReadable = true

// readable is a syscall.RawConn read callback that consumes nothing: it
// reports whether the socket has data, an end of stream or an error to
// read (a peek at one byte; the socket is non-blocking), and otherwise
// makes RawConn.Read wait for the poller to say it is readable.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
