//go:build !linux

package rtmp

import "net"

// rawWriter is linux only (fanout_linux.go): elsewhere every player keeps
// its own goroutine.
type rawWriter struct{}

func newRawWriter(net.Conn) (rawWriter, bool) { return rawWriter{}, false }

// iovScratch is the linux writev's scratch; nothing here.
type iovScratch struct{}

func (rawWriter) writev(net.Buffers, *iovScratch) (int, error) { return 0, net.ErrClosed }
