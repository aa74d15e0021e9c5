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
type rawWriter struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // w.do, bound once: no allocation per write
	iov   []unix.Iovec          // during a write: the iovScratch's
	n     int
	errno syscall.Errno
}

// iovScratch is the iovec array writev builds the call in, one per
// shared writer (directPass), not per player: one array hot in cache.
type iovScratch struct{ v []unix.Iovec }

// newRawWriter returns nil when nc is not a plain TCP connection (TLS).
func newRawWriter(nc net.Conn) *rawWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.do
	return w
}

func (w *rawWriter) do(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		if e == unix.EINTR {
			continue
		}
		w.n, w.errno = int(r), e
		if e != 0 {
			w.n = 0
		}
		return true
	}
}

// writev writes what of bufs the socket takes now, building the call in
// s: n < the total with a nil error means the socket is full.
func (w *rawWriter) writev(bufs net.Buffers, s *iovScratch) (int, error) {
	iov := s.v[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, nil
	}
	w.iov = iov
	err := w.rc.Write(w.fn)
	clear(iov) // keep no payload reachable
	s.v, w.iov = iov[:0], nil
	if err != nil {
		return 0, err
	}
	if w.errno == unix.EAGAIN {
		return 0, nil
	}
	if w.errno != 0 {
		return w.n, fmt.Errorf("writev: %w", w.errno)
	}
	return w.n, nil
}
