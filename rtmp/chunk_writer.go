package rtmp

import (
	"encoding/binary"
	"io"
	"net"
)

// DefaultChunkSize is the chunk size tapedeck announces and writes with.
const DefaultChunkSize = 4096

// outStream is the send state of one chunk stream id: the header fields of
// the last message written on it, so the next header can be compressed.
type outStream struct {
	ts       uint32
	length   uint32
	streamID uint32
	valid    bool
	typ      uint8
} // 16 bytes: the audio and video entries share a cache line

// chunkWriter holds the outbound chunking state of a connection. It is not
// safe for concurrent use; the connection serialises writers.
type chunkWriter struct {
	chunkSize uint32
	streams   [8]outStream // indexed by csid; tapedeck writes csids 2..7 only
}

func newChunkWriter() *chunkWriter { return &chunkWriter{chunkSize: 128} }

// appendBasicHeader appends the 1..3 byte basic header.
func appendBasicHeader(dst []byte, fmtType uint8, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(dst, fmtType<<6|byte(csid))
	case csid < 320:
		return append(dst, fmtType<<6, byte(csid-64))
	default:
		return append(dst, fmtType<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

func appendUint24(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>16), byte(v>>8), byte(v))
}

// appendFirstHeader appends the header of the first chunk of a message and
// reports whether continuation chunks need the extended timestamp repeated.
// It writes type 0 for the first message on a csid, after a stream id change
// or when time goes backwards, and type 1 or 2 (deltas) otherwise; type 3 is
// used only for continuation chunks, which every client reads the same way.
func (w *chunkWriter) appendFirstHeader(dst []byte, csid uint32, h Header) ([]byte, uint32, bool) {
	st := &w.streams[csid]
	var fmtType uint8
	var tsField uint32
	switch {
	case !st.valid || st.streamID != h.StreamID || int32(h.Timestamp-st.ts) < 0:
		fmtType, tsField = 0, h.Timestamp
	case st.length != h.Length || st.typ != h.Type:
		fmtType, tsField = 1, h.Timestamp-st.ts
	default:
		fmtType, tsField = 2, h.Timestamp-st.ts
	}
	*st = outStream{valid: true, ts: h.Timestamp, length: h.Length, typ: h.Type, streamID: h.StreamID}

	dst = appendBasicHeader(dst, fmtType, csid)
	ext := tsField >= 0xFFFFFF
	if ext {
		dst = appendUint24(dst, 0xFFFFFF)
	} else {
		dst = appendUint24(dst, tsField)
	}
	if fmtType <= 1 {
		dst = appendUint24(dst, h.Length)
		dst = append(dst, h.Type)
	}
	if fmtType == 0 {
		dst = binary.LittleEndian.AppendUint32(dst, h.StreamID)
	}
	if ext {
		dst = binary.BigEndian.AppendUint32(dst, tsField)
	}
	return dst, tsField, ext
}

// appendContHeader appends a type-3 continuation header, repeating the
// extended timestamp as the spec, Flash and ffmpeg expect.
func appendContHeader(dst []byte, csid uint32, ext bool, tsField uint32) []byte {
	dst = appendBasicHeader(dst, 3, csid)
	if ext {
		dst = binary.BigEndian.AppendUint32(dst, tsField)
	}
	return dst
}

// appendMessage appends the complete chunked form of a message, copying the
// payload. Used for small control and command messages.
func (w *chunkWriter) appendMessage(dst []byte, csid uint32, h Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	dst, tsField, ext := w.appendFirstHeader(dst, csid, h)
	for {
		n := min(uint32(len(payload)), w.chunkSize)
		dst = append(dst, payload[:n]...)
		payload = payload[n:]
		if len(payload) == 0 {
			return dst
		}
		dst = appendContHeader(dst, csid, ext, tsField)
	}
}

// vecBuilder turns messages into a vectored write: chunk headers go into one
// reusable scratch buffer and payloads are referenced in place, so writing a
// shared message to a player costs no copy and, once warmed up, no allocation.
// The vector refers to the header scratch directly: when the scratch grows
// in the middle of a write, the headers already referred to stay in its old
// array, which the vector keeps alive until the write is done.
type vecBuilder struct {
	hdr    []byte
	vec    net.Buffers // the write being built: headers and payloads
	chunks int         // chunks (and raw messages) in vec
	out    net.Buffers // what WriteTo consumes; a field so writing does not allocate
}

func (b *vecBuilder) reset() {
	b.hdr = b.hdr[:0]
	clear(b.vec) // drop the payload references for the garbage collector
	b.vec = b.vec[:0]
	b.chunks = 0
}

// addChunk appends one chunk: its header, from hdr[start:], and payload.
func (b *vecBuilder) addChunk(start int, payload []byte) {
	if len(b.hdr) > start {
		b.vec = append(b.vec, b.hdr[start:len(b.hdr):len(b.hdr)])
	}
	if len(payload) > 0 {
		b.vec = append(b.vec, payload)
	}
	b.chunks++
}

// add appends the chunks of one message. It repeats addFlushing's loop
// without the flush checks on purpose: it is the shared writer's and
// small writes' path, and add written as addFlushing with no limit was
// 10 % slower in BenchmarkPlayerWrite (139-157 against 126-138 ns/msg).
func (b *vecBuilder) add(w *chunkWriter, csid uint32, h Header, payload []byte) {
	h.Length = uint32(len(payload))
	start := len(b.hdr)
	var tsField uint32
	var ext bool
	b.hdr, tsField, ext = w.appendFirstHeader(b.hdr, csid, h)
	for {
		n := min(uint32(len(payload)), w.chunkSize)
		b.addChunk(start, payload[:n])
		payload = payload[n:]
		if len(payload) == 0 {
			return
		}
		start = len(b.hdr)
		b.hdr = appendContHeader(b.hdr, csid, ext, tsField)
	}
}

// addFlushing is add for a writer that empties b on the way: before a
// chunk would make b hold more than max chunks, flush writes out what b
// holds and resets it (the message's next chunk, a continuation, then
// starts the next write). A write's vector, and the iovec array package
// poll keeps for the socket's life, stay at max chunks whatever the
// message sizes.
func (b *vecBuilder) addFlushing(w *chunkWriter, csid uint32, h Header, payload []byte, max int, flush func() error) error {
	h.Length = uint32(len(payload))
	if b.chunks >= max {
		if err := flush(); err != nil {
			return err
		}
	}
	start := len(b.hdr)
	var tsField uint32
	var ext bool
	b.hdr, tsField, ext = w.appendFirstHeader(b.hdr, csid, h)
	for {
		n := min(uint32(len(payload)), w.chunkSize)
		b.addChunk(start, payload[:n])
		payload = payload[n:]
		if len(payload) == 0 {
			return nil
		}
		if b.chunks >= max {
			if err := flush(); err != nil {
				return err
			}
		}
		start = len(b.hdr)
		b.hdr = appendContHeader(b.hdr, csid, ext, tsField)
	}
}

// maxChunkHeader is the longest chunk header: a 3-byte basic header, an
// 11-byte type-0 message header and an extended timestamp.
const maxChunkHeader = 3 + 11 + 4

// adopt makes rest, the unwritten part of a write built in another
// builder (the shared writer's pass), b's own, in b.out for WriteTo: the
// pieces as short as a chunk header are copied into b's scratch, since the
// other builder's is reused for the next write, and the longer ones,
// payloads of the messages the caller keeps retained, are referenced.
func (b *vecBuilder) adopt(rest net.Buffers) {
	b.reset()
	for _, piece := range rest {
		if len(piece) <= maxChunkHeader {
			start := len(b.hdr)
			b.hdr = append(b.hdr, piece...)
			piece = b.hdr[start:len(b.hdr):len(b.hdr)]
		}
		b.vec = append(b.vec, piece)
	}
	b.out = b.vec
}

// addRaw appends already chunked bytes (copied into the scratch buffer).
func (b *vecBuilder) addRaw(p []byte) {
	start := len(b.hdr)
	b.hdr = append(b.hdr, p...)
	b.addChunk(start, nil)
}

// writeTo writes what was added since reset to w in one vectored write
// (writev on TCP), returning the bytes written.
func (b *vecBuilder) writeTo(w io.Writer) (int64, error) {
	b.out = b.vec
	n, err := b.out.WriteTo(w)
	b.out = nil
	return n, err
}

// buffers returns the vector of what was added since reset. It is valid
// until the next reset.
func (b *vecBuilder) buffers() net.Buffers { return b.vec }
