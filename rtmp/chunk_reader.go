package rtmp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tapedeck/tapedeck/remux"
)

// Default limits for what a peer may make us spend.
const (
	DefaultMaxMessageBytes = 8 << 20 // per message; the wire allows 16 MiB - 1
	DefaultMaxChunkSize    = 1 << 20 // largest Set Chunk Size we accept from a peer
	maxChunkStreams        = 64      // distinct csids a peer may keep open at once
)

// ErrProtocol is wrapped by every error caused by a peer breaking the protocol.
var ErrProtocol = errors.New("rtmp protocol violation")

// Header is the RTMP message header of a received message.
type Header struct {
	Type      uint8
	StreamID  uint32
	Timestamp uint32
	Length    uint32
}

// chunkStream is the receive state of one chunk stream id.
type chunkStream struct {
	hdr      Header
	delta    uint32 // timestamp delta applied by a type-3 header starting a message
	extended bool   // the last type 0/1/2 header carried an extended timestamp
	extValue uint32 // the value it carried, to recognise repeats in type-3 chunks
	started  bool   // a type-0 header has been seen
	msg      *remux.Message
	got      uint32
}

// ChunkReader assembles RTMP messages from chunks. Payloads are read straight
// into pooled buffers, once; the caller owns the returned message's reference.
type ChunkReader struct {
	r            *bufio.Reader
	pool         *remux.Pool
	chunkSize    uint32
	maxMessage   uint32
	maxChunkSize uint32
	streams      map[uint32]*chunkStream
	// low holds the entries of streams for the ids below 8, which every
	// client sends its media on: looked up per chunk, the map cost more
	// than the rest of the header.
	low  [8]*chunkStream
	read uint64 // bytes consumed, for acknowledgements
	// pending is the buffer space held by partly received messages. Up to
	// maxMessage of it is allocated at full message size on the first
	// chunk; beyond that, buffers grow with the bytes actually received, so
	// a peer announcing many huge messages cannot pin memory it never sends.
	pending int
	hb      [11]byte // header scratch; a field so reading it does not allocate
}

// NewChunkReader reads chunks from r. maxMessage and maxChunkSize of 0 mean
// the defaults.
func NewChunkReader(r *bufio.Reader, pool *remux.Pool, maxMessage, maxChunkSize uint32) *ChunkReader {
	if maxMessage == 0 {
		maxMessage = DefaultMaxMessageBytes
	}
	if maxChunkSize == 0 {
		maxChunkSize = DefaultMaxChunkSize
	}
	return &ChunkReader{
		r: r, pool: pool, chunkSize: 128,
		maxMessage: maxMessage, maxChunkSize: maxChunkSize,
		streams: make(map[uint32]*chunkStream),
	}
}

// BytesRead reports how many bytes the reader consumed from the wire.
func (cr *ChunkReader) BytesRead() uint64 { return cr.read }

// SetChunkSize applies a peer's Set Chunk Size.
func (cr *ChunkReader) SetChunkSize(n uint32) error {
	n &= 0x7FFFFFFF // the top bit is reserved
	if n > 0xFFFFFF {
		n = 0xFFFFFF // values beyond behave as 2^24-1
	}
	if n < 1 || n > cr.maxChunkSize {
		return fmt.Errorf("%w: set chunk size %d outside 1..%d", ErrProtocol, n, cr.maxChunkSize)
	}
	cr.chunkSize = n
	return nil
}

// Abort drops the partly received message on csid (Abort message).
func (cr *ChunkReader) Abort(csid uint32) {
	if cs := cr.streams[csid]; cs != nil && cs.msg != nil {
		cr.pending -= len(cs.msg.Payload)
		cs.msg.Release()
		cs.msg = nil
		cs.got = 0
	}
}

// Close releases partly received messages.
func (cr *ChunkReader) Close() {
	for _, cs := range cr.streams {
		if cs.msg != nil {
			cs.msg.Release()
			cs.msg = nil
		}
	}
}

func (cr *ChunkReader) readFull(b []byte) error {
	n, err := io.ReadFull(cr.r, b)
	cr.read += uint64(n)
	return err
}

// ReadMessage returns the next complete message and its header. The message
// Kind is the RTMP type id; its Frame is parsed for audio and video.
func (cr *ChunkReader) ReadMessage() (*remux.Message, Header, error) {
	for {
		m, h, err := cr.readChunk()
		if err != nil || m != nil {
			return m, h, err
		}
	}
}

// readChunk reads one chunk and returns a message when it completed one.
func (cr *ChunkReader) readChunk() (*remux.Message, Header, error) {
	hb := cr.hb[:]
	if err := cr.readFull(hb[:1]); err != nil {
		return nil, Header{}, err
	}
	fmtType := hb[0] >> 6
	csid := uint32(hb[0] & 0x3F)
	switch csid {
	case 0:
		if err := cr.readFull(hb[:1]); err != nil {
			return nil, Header{}, unexpected(err)
		}
		csid = uint32(hb[0]) + 64
	case 1:
		if err := cr.readFull(hb[:2]); err != nil {
			return nil, Header{}, unexpected(err)
		}
		csid = uint32(hb[1])*256 + uint32(hb[0]) + 64
	}
	var cs *chunkStream
	if csid < uint32(len(cr.low)) {
		cs = cr.low[csid]
	}
	if cs == nil {
		cs = cr.streams[csid]
	}
	if cs == nil {
		if len(cr.streams) >= maxChunkStreams {
			return nil, Header{}, fmt.Errorf("%w: more than %d chunk streams", ErrProtocol, maxChunkStreams)
		}
		cs = &chunkStream{}
		cr.streams[csid] = cs
		if csid < uint32(len(cr.low)) {
			cr.low[csid] = cs
		}
	}
	if fmtType != 0 && !cs.started {
		return nil, Header{}, fmt.Errorf("%w: chunk stream %d starts with a type-%d header", ErrProtocol, csid, fmtType)
	}
	if cs.msg != nil && fmtType != 3 {
		return nil, Header{}, fmt.Errorf("%w: chunk stream %d: type-%d header inside a message (%d of %d bytes)", ErrProtocol, csid, fmtType, cs.got, cs.hdr.Length)
	}

	var ts uint32
	if fmtType < 3 {
		n := [3]int{11, 7, 3}[fmtType]
		if err := cr.readFull(hb[:n]); err != nil {
			return nil, Header{}, unexpected(err)
		}
		ts = uint32(hb[0])<<16 | uint32(hb[1])<<8 | uint32(hb[2])
		if fmtType <= 1 {
			cs.hdr.Length = uint32(hb[3])<<16 | uint32(hb[4])<<8 | uint32(hb[5])
			cs.hdr.Type = hb[6]
		}
		if fmtType == 0 {
			cs.hdr.StreamID = binary.LittleEndian.Uint32(hb[7:11])
		}
		cs.extended = ts == 0xFFFFFF
		if cs.extended {
			if err := cr.readFull(hb[:4]); err != nil {
				return nil, Header{}, unexpected(err)
			}
			ts = binary.BigEndian.Uint32(hb[:4])
			cs.extValue = ts
		}
		if fmtType == 0 {
			cs.hdr.Timestamp = ts
			// Spec §5.3.1.2.4: a type-3 header after type 0 reuses the
			// type-0 timestamp as its delta (ffmpeg writes it that way).
			cs.delta = ts
			cs.started = true
		} else {
			cs.delta = ts
			cs.hdr.Timestamp += ts
		}
	} else {
		if cs.extended {
			// librtmp omits the repeated extended timestamp in type-3
			// chunks, everyone else sends it: consume it only if it is there.
			peek, err := cr.r.Peek(4)
			if err != nil && err != io.EOF {
				return nil, Header{}, err
			}
			if len(peek) == 4 && binary.BigEndian.Uint32(peek) == cs.extValue {
				cr.r.Discard(4)
				cr.read += 4
			}
		}
		if cs.msg == nil { // a type-3 header starting a new message
			cs.hdr.Timestamp += cs.delta
		}
	}

	if cs.msg == nil {
		if cs.hdr.Length > cr.maxMessage {
			return nil, Header{}, fmt.Errorf("%w: message of %d bytes on chunk stream %d exceeds the limit of %d", ErrProtocol, cs.hdr.Length, csid, cr.maxMessage)
		}
		size := int(cs.hdr.Length)
		if cr.pending+size > int(cr.maxMessage) {
			size = min(size, int(cr.chunkSize))
		}
		cs.msg = cr.pool.Get(size)
		cr.pending += size
		cs.got = 0
	}
	n := min(cs.hdr.Length-cs.got, cr.chunkSize)
	if int(cs.got+n) > len(cs.msg.Payload) {
		cr.grow(cs, int(cs.got+n))
	}
	if err := cr.readFull(cs.msg.Payload[cs.got : cs.got+n]); err != nil {
		return nil, Header{}, unexpected(err)
	}
	cs.got += n
	if cs.got < cs.hdr.Length {
		return nil, Header{}, nil
	}
	m := cs.msg
	cr.pending -= len(m.Payload)
	cs.msg = nil
	cs.got = 0
	m.Kind = remux.Kind(cs.hdr.Type)
	m.Timestamp = cs.hdr.Timestamp
	m.Parse()
	return m, cs.hdr, nil
}

// grow replaces a partly received message's buffer by one that holds at
// least need bytes (doubling, up to the message length), copying what
// arrived so far.
func (cr *ChunkReader) grow(cs *chunkStream, need int) {
	size := min(max(2*len(cs.msg.Payload), need), int(cs.hdr.Length))
	bigger := cr.pool.Get(size)
	copy(bigger.Payload, cs.msg.Payload[:cs.got])
	cr.pending += size - len(cs.msg.Payload)
	cs.msg.Release()
	cs.msg = bigger
}

// unexpected turns an EOF in the middle of a chunk into ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
