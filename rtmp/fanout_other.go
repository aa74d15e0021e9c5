//go:build !linux

package rtmp

import "net"

// rawWriter is linux only (fanout_linux.go): elsewhere every player keeps
// its own goroutine.
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter { return nil }

func (*rawWriter) writev(net.Buffers) (int, error) { return 0, net.ErrClosed }
