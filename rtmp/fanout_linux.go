//go:build linux

package rtmp

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter makes non-blocking vectored writes on a TCP socket for the
// shared writer: one writev through syscall.RawConn whose callback always
// reports done, so the runtime never parks the writer on a full socket.
// The writev is a raw system call, as the reads are (rawsys_linux.go).
// It is the RawConn alone, held in the player by value: the call is built
// in the pass's iovScratch, not in a per-player object.
type rawWriter struct{ rc syscall.RawConn }

// newRawWriter reports false when nc is not a plain TCP connection (TLS).
func newRawWriter(nc net.Conn) (rawWriter, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return rawWriter{}, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return rawWriter{}, false
	}
	return rawWriter{rc: rc}, true
}

// iovScratch is where writev builds its call and the callback leaves the
// result: one per shared writer (directPass), not per player, so the
// iovec array stays in cache from one player to the next.
type iovScratch struct {
	v     []unix.Iovec
	fn    func(fd uintptr) bool // s.do, bound once: no allocation per write
	n     int
	errno syscall.Errno
}

func (s *iovScratch) do(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.v[0])), uintptr(len(s.v)))
		if e == unix.EINTR {
			continue
		}
		s.n, s.errno = int(r), e
		if e != 0 {
			s.n = 0
		}
		return true
	}
}

// writev writes what of bufs the socket takes now, building the call in
// s: n < the total with a nil error means the socket is full.
func (w rawWriter) writev(bufs net.Buffers, s *iovScratch) (int, error) {
	if s.fn == nil {
		s.fn = s.do
	}
	s.v = s.v[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		s.v = append(s.v, v)
	}
	if len(s.v) == 0 {
		return 0, nil
	}
	err := w.rc.Write(s.fn)
	clear(s.v) // keep no payload reachable
	if err != nil {
		return 0, err
	}
	if s.errno == unix.EAGAIN {
		return 0, nil
	}
	if s.errno != 0 {
		return s.n, fmt.Errorf("writev: %w", s.errno)
	}
	return s.n, nil
}
