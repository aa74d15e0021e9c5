//go:build linux

package recorder

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// iovMax is Linux's IOV_MAX: the most buffers one writev takes.
const iovMax = 1024

// vecWriter writes a fragment — its moof and every sample, each still in
// the publisher's message buffer — with one writev, instead of copying
// them through the 64 KiB buffer into a write per 64 KiB: a 2 s fragment
// of a 2.7 Mbit/s stream was 11 writes, each long enough that the Go
// runtime handed the recorder's P to another thread meanwhile (a futex
// wake-up and sysmon polling per write on a one-core box).
type vecWriter struct {
	rc  syscall.RawConn
	iov []syscall.Iovec
	fn  func(fd uintptr) bool // v.writeFD as a method value, made once
	n   int64                 // what writeFD wrote
	err error                 // writeFD's error
}

// newVecWriter returns a vecWriter for an *os.File itself, nil for any
// other file — tests' fault-injecting wrappers, which embed one and must
// see every write — which keep the buffered path.
func newVecWriter(f file) *vecWriter {
	of, ok := f.(*os.File)
	if !ok {
		return nil
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return nil
	}
	v := &vecWriter{rc: rc}
	v.fn = v.writeFD
	return v
}

// add queues p for the next write.
func (v *vecWriter) add(p []byte) {
	if len(p) == 0 {
		return
	}
	v.iov = append(v.iov, syscall.Iovec{Base: &p[0]})
	v.iov[len(v.iov)-1].SetLen(len(p))
}

// write writes what was queued, in writev calls of up to iovMax buffers,
// continuing after short writes; it returns the bytes written and forgets
// the buffers either way.
func (v *vecWriter) write() (int64, error) {
	all := v.iov
	var written int64
	var err error
	for iov := all; len(iov) > 0 && err == nil; {
		v.iov = iov[:min(len(iov), iovMax)]
		v.n, v.err = 0, nil
		if err = v.rc.Write(v.fn); err == nil {
			err = v.err
		}
		written += v.n
		iov = advance(iov, v.n)
	}
	clear(all)
	v.iov = all[:0]
	if err != nil {
		return written, fmt.Errorf("writev: %w", err)
	}
	return written, nil
}

// writeFD is the RawConn callback: one writev of v.iov.
func (v *vecWriter) writeFD(fd uintptr) bool {
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
	for e == syscall.EINTR {
		n, _, e = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
	}
	switch {
	case e != 0:
		v.err = e
	case n == 0:
		v.err = syscall.EIO // no progress on a regular file: give up
	default:
		v.n = int64(n)
	}
	return true
}

// advance drops the first n bytes from iov.
func advance(iov []syscall.Iovec, n int64) []syscall.Iovec {
	for len(iov) > 0 && n >= int64(iov[0].Len) {
		n -= int64(iov[0].Len)
		iov = iov[1:]
	}
	if len(iov) > 0 && n > 0 {
		iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
		iov[0].SetLen(int(iov[0].Len) - int(n))
	}
	return iov
}
