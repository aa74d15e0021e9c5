package rtmp

import (
	"bufio"
	"sync"
	"syscall"
)

// readBufSize is a connection's read buffer: every connection has one
// while it reads, and a publisher's chunk payloads larger than it are read
// straight into the message buffers (a second read per 4 KB chunk, per
// stream).
const readBufSize = 1 << 10

// readers holds the read buffers of connections that are not reading. A
// connection that only plays receives almost nothing (an acknowledgement
// every window, a ping, a pause): while it waits it keeps neither a buffer
// nor a deep stack (waitIdle).
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// getReader is a pooled read buffer reading from c.wire, handed to c.cr.
func (c *conn) getReader() {
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(c.wire)
	c.cr.r = c.br
}

// putReader returns the read buffer to the pool; it must hold nothing.
func (c *conn) putReader() {
	c.br.Reset(nil)
	readers.Put(c.br)
	c.br, c.cr.r = nil, nil
}

// idle reports whether the reader may wait in waitIdle: the connection
// only plays, its read buffer is empty and the socket can say when it is
// readable without a read (not TLS, whose records are buffered inside
// crypto/tls).
func (c *conn) idle() bool {
	if c.br.Buffered() != 0 || wireHolds(c.wire) || !c.hasPlayer() || c.publishing() {
		return false
	}
	if c.rc == nil && !c.rcTried {
		c.rcTried = true
		if sc, ok := c.nc.(syscall.Conn); ok && canWaitReadable {
			c.rc, _ = sc.SyscallConn()
		}
	}
	return c.rc != nil
}

// waitIdle waits until the socket has something to read (or was closed)
// with the read buffer back in the pool. It is called from readLoop, near
// the bottom of the reader goroutine's stack: parked here rather than
// inside ReadMessage, the goroutine uses little enough of its stack that
// the garbage collector halves it (a stack is shrunk when under a quarter
// of it is in use; the commands at connect and play grow it to 8 KiB, and
// parked in ReadMessage it stays there).
func (c *conn) waitIdle() error {
	c.putReader()
	err := c.rc.Read(readable)
	c.getReader()
	return err
}

// command runs handleCommand on a goroutine of its own while the reader
// waits. A command goes through the AMF decoder, the handler (the
// appliance's OnConnect, OnPlay, OnPublish: admission, the hub, codecs)
// and log lines, frames of several KiB: run on the reader goroutine it
// would grow that stack to 8 KiB, which a thousand players would keep
// until the garbage collector shrinks them (and the process's RSS keeps
// the peak). Commands are a handful per connection; the goroutine's grown
// stack goes back to the runtime's stack pool when it ends, for the next.
//
// A player the command starts is started from the reader once the command
// is done (launch): started on the command goroutine, it would be put
// behind every runnable goroutine when the command's end wakes the
// reader (the scheduler runs the goroutine just woken next), and with a
// thousand players writing, its first write, the GOP cache, would wait
// for a round of theirs.
func (c *conn) command(p []byte, h Header) error {
	done := make(chan error, 1)
	c.inCommand = true
	go func() { done <- c.handleCommand(p, h) }()
	err := <-done
	c.inCommand = false
	if pl := c.launched; pl != nil {
		c.launched = nil
		go pl.run()
	}
	return err
}

// launch starts p's goroutine, or, during a command, has command start it
// when the command is done.
func (c *conn) launch(p *player) {
	if !c.inCommand {
		go p.run()
		return
	}
	if c.launched != nil {
		go c.launched.run()
	}
	c.launched = p
}
