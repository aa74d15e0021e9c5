package rtmp

import "sync"

// wireReadSize is the size of one socket read of a connection. A
// publisher's chunks arrive as a header of up to 18 bytes and up to a
// chunk size (ffmpeg: 4096) of payload; read through the connection's
// 1 KiB bufio.Reader alone, every chunk cost two or three read syscalls
// (the header's fill, then the payload past the buffer), each a possible
// netpoller wake-up. One read into 64 KiB takes whatever the kernel holds
// — the rest of the message, often the next ones too — in one syscall.
const wireReadSize = 64 << 10

// wireBufs holds the read buffers of connections whose bytes have all
// been consumed. A connection holds one only from the read that fills it
// until the chunk reader has taken every byte, not while it waits for the
// socket, so 16 publishers share a few and 1,000 mostly silent players
// hold none.
var wireBufs = sync.Pool{New: func() any {
	b := make([]byte, wireReadSize)
	return &b
}}
