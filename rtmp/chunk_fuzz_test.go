package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// Limits of the fuzzed reader: small, so a lying length is cheap to find.
const (
	fuzzMaxMessage   = 64 << 10
	fuzzMaxChunkSize = 64 << 10
)

// fuzzSeeds are valid chunk streams as our writer produces them.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	// A publisher's opening: Set Chunk Size, connect, then media.
	w := newChunkWriter()
	var b []byte
	b = w.appendMessage(b, csidControl, Header{Type: typeSetChunkSize}, be32(4096))
	w.chunkSize = 4096
	connect, _ := amf.AppendAMF0(nil, "connect", 1.0, amf.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://h/live"}})
	b = w.appendMessage(b, csidCommand, Header{Type: typeCommandAMF0}, connect)
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1}, []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f})
	b = w.appendMessage(b, csidAudio, Header{Type: typeAudio, StreamID: 1}, []byte{0xAF, 0x00, 0x12, 0x10})
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: 40}, bytes.Repeat([]byte{0x27}, 5000))
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: 80}, bytes.Repeat([]byte{0x27}, 5000)) // type 2
	b = w.appendMessage(b, csidControl, Header{Type: typeAbort}, be32(csidVideo))
	seeds = append(seeds, b)

	// Default chunk size 128: many type-3 continuations, interleaved csids.
	wire, _ := benchStream(6, 128, 7)
	seeds = append(seeds, wire[:min(len(wire), 8<<10)])

	// Small chunk size announced in-band, then an extended timestamp split
	// over chunks (the writer repeats it in type-3 headers).
	w = newChunkWriter()
	b = w.appendMessage(nil, csidControl, Header{Type: typeSetChunkSize}, be32(16))
	w.chunkSize = 16
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: 0x01000000}, bytes.Repeat([]byte{0x17}, 40))
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: 0x01000000 + 0x01000000}, bytes.Repeat([]byte{0x27}, 40))
	b = w.appendMessage(b, csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: 7}, bytes.Repeat([]byte{0x27}, 3)) // back in time: type 0
	seeds = append(seeds, b)

	// Hand-made: three-byte csid, type-3 header starting a new message.
	seeds = append(seeds, concat(
		[]byte{0x01, 0xFF, 0xFF, 0, 0, 6, 0, 0, 1, 9, 3, 0, 0, 0}, []byte("y"),
		[]byte{0xC1, 0xFF, 0xFF}, []byte("z"),
	))
	// Many chunk streams announcing messages at the limit, one byte each.
	w = newChunkWriter()
	b = w.appendMessage(nil, csidControl, Header{Type: typeSetChunkSize}, be32(1))
	w.chunkSize = 1
	for csid := uint32(3); csid < 3+maxChunkStreams-1; csid++ {
		b = appendBasicHeader(b, 0, csid)
		b = appendUint24(b, 0)
		b = appendUint24(b, fuzzMaxMessage)
		b = append(b, typeVideo, 1, 0, 0, 0, 0x17)
	}
	seeds = append(seeds, b)

	// Lying length and set chunk size extremes.
	seeds = append(seeds, []byte{0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0})
	seeds = append(seeds, concat([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0}, be32(0)))
	seeds = append(seeds, concat([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0}, be32(0x7FFFFFFF)))
	return seeds
}

// fuzzReadAll runs cr like the server's read loop does: it applies Set
// Chunk Size and Abort, releases every message and checks the limits. It
// returns the messages read and the error that ended the stream.
func fuzzReadAll(t *testing.T, cr *ChunkReader) (int, error) {
	for n := 0; ; n++ {
		m, h, err := cr.ReadMessage()
		if err != nil {
			if m != nil {
				t.Fatalf("message returned with error %v", err)
			}
			return n, err
		}
		if m == nil {
			t.Fatal("nil message without an error")
		}
		if len(m.Payload) > fuzzMaxMessage || h.Length != uint32(len(m.Payload)) {
			t.Fatalf("message of %d bytes (header says %d), limit %d", len(m.Payload), h.Length, fuzzMaxMessage)
		}
		if m.Kind != remux.Kind(h.Type) || m.Timestamp != h.Timestamp {
			t.Fatalf("message kind %d ts %d, header %+v", m.Kind, m.Timestamp, h)
		}
		if m.Refs() != 1 {
			t.Fatalf("fresh message holds %d references", m.Refs())
		}
		var cerr error
		switch h.Type {
		case typeSetChunkSize:
			if len(m.Payload) < 4 {
				cerr = ErrProtocol
			} else if cerr = cr.SetChunkSize(binary.BigEndian.Uint32(m.Payload)); cerr == nil && (cr.chunkSize < 1 || cr.chunkSize > fuzzMaxChunkSize) {
				t.Fatalf("chunk size %d accepted, limit %d", cr.chunkSize, fuzzMaxChunkSize)
			}
		case typeAbort:
			if len(m.Payload) >= 4 {
				cr.Abort(binary.BigEndian.Uint32(m.Payload))
			}
		}
		m.Release()
		if cerr != nil {
			return n, cerr
		}
	}
}

func FuzzChunkReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := NewChunkReader(bufio.NewReader(bytes.NewReader(data)), remux.NewPool(), fuzzMaxMessage, fuzzMaxChunkSize)
		_, err := fuzzReadAll(t, cr)
		if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v is neither EOF nor a protocol error", err)
		}
		if err == io.EOF && cr.BytesRead() != uint64(len(data)) {
			t.Fatalf("clean EOF after %d of %d bytes", cr.BytesRead(), len(data))
		}
		if cr.BytesRead() > uint64(len(data)) {
			t.Fatalf("read %d bytes of %d", cr.BytesRead(), len(data))
		}
		// Memory held for partial messages is bounded by one message plus
		// a multiple of the input, not by the lengths the peer announced.
		if len(cr.streams) > maxChunkStreams {
			t.Fatalf("%d chunk streams, limit %d", len(cr.streams), maxChunkStreams)
		}
		var partial int
		for _, cs := range cr.streams {
			if cs.msg != nil {
				if len(cs.msg.Payload) > fuzzMaxMessage || cs.got > cs.hdr.Length {
					t.Fatalf("partial message of %d bytes, got %d", len(cs.msg.Payload), cs.got)
				}
				partial += cap(cs.msg.Payload)
			}
		}
		if bound := partialBound(fuzzMaxMessage, int(cr.chunkSize), cr.BytesRead()); partial > bound {
			t.Fatalf("%d bytes held in partial messages after %d bytes of input, bound %d", partial, cr.BytesRead(), bound)
		}
		cr.Close()
		for _, cs := range cr.streams {
			if cs.msg != nil {
				t.Fatal("Close left a partial message")
			}
		}
	})
}

// TestFuzzSeedsParse checks the seed corpus is what it claims: the valid
// streams read to a clean EOF, the hostile ones fail with a protocol error.
func TestFuzzSeedsParse(t *testing.T) {
	seeds := fuzzSeeds()
	for i, s := range seeds {
		cr := NewChunkReader(bufio.NewReader(bytes.NewReader(s)), remux.NewPool(), fuzzMaxMessage, fuzzMaxChunkSize)
		n, err := fuzzReadAll(t, cr)
		cr.Close()
		switch {
		case i < 5 && err != io.EOF && !(i == 1 && errors.Is(err, io.ErrUnexpectedEOF)):
			t.Errorf("seed %d: %v after %d messages, want EOF", i, err, n)
		case i >= 5 && !errors.Is(err, ErrProtocol):
			t.Errorf("seed %d: %v after %d messages, want a protocol error", i, err, n)
		}
	}
}

// partialBound is the most buffer space (pool capacity, so up to twice the
// bytes asked for) partly received messages may hold after bytesRead bytes
// of input: one message's worth allocated up front, one chunk being read,
// the rest proportional to what actually arrived (doubling growth, pool
// size classes of at least 256 bytes) -- never the lengths announced.
func partialBound(maxMessage, chunkSize int, bytesRead uint64) int {
	return 2*(maxMessage+chunkSize) + 4*int(bytesRead) + maxChunkStreams*256
}

// A peer must not make the reader allocate a whole message buffer per chunk
// stream for the price of one header and one byte of payload: with Set
// Chunk Size 1 and 64 chunk streams each announcing a message of the
// limit's size, ~1 KB on the wire would pin 64 x MaxMessageBytes (512 MiB
// with the default 8 MiB limit) on one connection if the announced length
// were allocated up front for every chunk stream (as ChunkReader did until
// it gained its pending budget).
func TestChunkReaderPartialMessageAmplification(t *testing.T) {
	const limit = 1 << 20 // the MaxMessageBytes of many deployments
	w := newChunkWriter()
	wire := w.appendMessage(nil, csidControl, Header{Type: typeSetChunkSize}, be32(1))
	for i := range maxChunkStreams - 1 { // csid 2 is taken by the control message
		csid := uint32(3 + i)
		wire = appendBasicHeader(wire, 0, csid)
		wire = appendUint24(wire, 0)     // timestamp
		wire = appendUint24(wire, limit) // length: at the limit, so accepted
		wire = append(wire, typeVideo, 1, 0, 0, 0)
		wire = append(wire, 0x17) // first (and only) byte of payload
	}
	pool := remux.NewPool()
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(wire)), pool, limit, 0)
	defer cr.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := fuzzReadAll(t, cr)
	runtime.ReadMemStats(&after)
	if err != io.EOF {
		t.Fatalf("reading the partial messages: %v", err)
	}
	held := 0
	for _, cs := range cr.streams {
		if cs.msg != nil {
			held += cap(cs.msg.Payload)
		}
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes on the wire: %d partial messages hold %d bytes (%d allocated)", len(wire), len(cr.streams)-1, held, allocated)
	if bound := partialBound(limit, 1, uint64(len(wire))); held > bound {
		t.Errorf("%d bytes of input pin %d bytes (%.0fx) in partial message buffers; want at most %d",
			len(wire), held, float64(held)/float64(len(wire)), bound)
	}
}
