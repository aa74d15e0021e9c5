//go:build !unix

package rtmp

import (
	"io"
	"net"
)

// newWireReader returns nc: the pooled raw reads are for unix sockets.
func newWireReader(nc net.Conn) io.Reader { return nc }

// wireHolds reports whether r holds bytes read from the socket: never here.
func wireHolds(io.Reader) bool { return false }
