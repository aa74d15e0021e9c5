//go:build unix

package rtmp

import (
	"io"
	"net"
	"os"
	"syscall"
)

// wireReader reads a socket in wireReadSize reads into a pooled buffer that
// it holds only while it has unread bytes: the wait for readability runs
// through syscall.RawConn with no buffer, and the buffer is taken from
// wireBufs only for the read the netpoller said would succeed. Read
// deadlines and Close apply as to the net.Conn (same descriptor).
type wireReader struct {
	rc   syscall.RawConn
	buf  *[]byte // nil while every byte read so far was consumed
	r, w int
	// readFn is wr.readFD as a method value, made once: a closure per
	// read would allocate.
	readFn func(fd uintptr) bool
	n      int   // readFD's result
	rerr   error // readFD's error
	nc     net.Conn
	reads  int // reads that returned bytes (tests)
}

// newWireReader returns the reader a connection's chunk reader reads
// through: a wireReader for a socket, nc itself for anything else (TLS).
func newWireReader(nc net.Conn) io.Reader {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	wr := &wireReader{rc: rc, nc: nc}
	wr.readFn = wr.readFD
	return wr
}

// Read copies buffered bytes into p, reading the socket first when none
// are left.
func (wr *wireReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if wr.buf == nil {
		if err := wr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*wr.buf)[wr.r:wr.w])
	wr.r += n
	if wr.r == wr.w {
		wireBufs.Put(wr.buf)
		wr.buf = nil
	}
	return n, nil
}

// fill reads once, waiting for the socket as a net.Conn read would.
func (wr *wireReader) fill() error {
	wr.n, wr.rerr = 0, nil
	if err := wr.rc.Read(wr.readFn); err != nil {
		return err // a deadline or a closed connection, as net.OpError
	}
	if wr.rerr != nil {
		return &net.OpError{Op: "read", Net: "tcp", Source: wr.nc.LocalAddr(), Addr: wr.nc.RemoteAddr(), Err: os.NewSyscallError("read", wr.rerr)}
	}
	if wr.n == 0 {
		return io.EOF
	}
	return nil
}

// readFD is the RawConn callback: false (wait for readability) when the
// socket has nothing, with the buffer given back meanwhile.
func (wr *wireReader) readFD(fd uintptr) bool {
	b := wireBufs.Get().(*[]byte)
	n, errno := readNonblock(fd, *b)
	if errno == syscall.EAGAIN {
		wireBufs.Put(b)
		return false
	}
	if errno != 0 || n <= 0 {
		wireBufs.Put(b)
		if errno != 0 {
			wr.rerr = errno
		}
		return true
	}
	wr.buf, wr.r, wr.w, wr.n = b, 0, n, n
	wr.reads++
	return true
}

// wireHolds reports whether r, a connection's wire, holds bytes read from
// the socket that nobody has consumed yet.
func wireHolds(r io.Reader) bool {
	wr, ok := r.(*wireReader)
	return ok && wr.buf != nil
}
