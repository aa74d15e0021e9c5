//go:build !unix

package rtmp

import (
	"io"
	"net"
)

// newWireReader returns nc: the pooled raw reads are for unix sockets.
func newWireReader(nc net.Conn) io.Reader { return nc }
