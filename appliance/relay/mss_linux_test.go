package relay

import "syscall"

// smallMSS announces a 1400-byte MSS on a listening socket.
func smallMSS(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
	})
	if err != nil {
		return err
	}
	return serr
}
