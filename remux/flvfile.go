package remux

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// FLVReader reads an FLV file tag by tag through an io.ReaderAt. Memory:
// the sequence headers, the onMetaData body and a sparse index of the
// keyframes seen so far (16 B each), which makes seeking back instant and
// seeking forward a scan of tag headers from the furthest known keyframe.
type FLVReader struct {
	r    io.ReaderAt
	size int64
	pool *Pool

	start int64 // offset of the first tag
	pos   int64 // offset of the next tag
	info  FileInfo
	hdrs  [2]*Message // current video, audio sequence header
	first [2]*Message // those found at the start of the file
	index []flvKey
	hdr   [12]byte
}

type flvKey struct {
	ts  uint32
	pos int64
}

// maxFLVHeaderScan bounds the tags read at open to find the sequence headers.
const maxFLVHeaderScan = 64

// OpenFLV reads the FLV header, the onMetaData tag and the sequence headers
// at the start of the file. size is the file's size.
func OpenFLV(r io.ReaderAt, size int64, pool *Pool) (*FLVReader, error) {
	var h [13]byte
	if err := readFull(r, h[:], 0); err != nil {
		return nil, corrupt("flv header: %v", err)
	}
	if string(h[:3]) != "FLV" {
		return nil, corrupt("not an FLV file")
	}
	off := int64(binary.BigEndian.Uint32(h[5:9]))
	if off < 9 || off+4 > size {
		return nil, corrupt("flv header size %d", off)
	}
	f := &FLVReader{r: r, size: size, pool: pool, start: off + 4}
	f.pos = f.start
	// Headers and metadata: read the first tags.
	for i := 0; i < maxFLVHeaderScan; i++ {
		typ, bodyLen, ts, err := f.tagHeader(f.pos)
		if err != nil {
			break
		}
		if typ == 18 && f.info.Meta == nil && bodyLen < 1<<20 {
			b := make([]byte, bodyLen)
			if readFull(r, b, f.pos+11) == nil {
				if _, ok := amf.CutString(b, "onMetaData"); ok {
					f.info.Meta = b
				}
			}
		}
		if typ == 8 || typ == 9 {
			var b0 [tagHeaderPeek]byte
			n := min(int(bodyLen), len(b0))
			if readFull(r, b0[:n], f.pos+11) != nil {
				break
			}
			var fr Frame
			if typ == 9 {
				fr = ParseVideo(b0[:n])
			} else {
				fr = ParseAudio(b0[:n])
			}
			k := kindIdx(Kind(typ))
			if fr.SequenceHeader && f.first[k] == nil {
				m, err := f.readTag(f.pos, Kind(typ), bodyLen, ts)
				if err != nil {
					break
				}
				f.first[k] = m
				f.hdrs[k] = m.Retain()
			}
			if typ == 9 && fr.Codec != 0 && f.info.VideoCodec == 0 {
				f.info.VideoCodec = fr.Codec
			}
			if typ == 8 && fr.Codec != 0 && f.info.AudioCodec == 0 {
				f.info.AudioCodec = fr.Codec
			}
			if typ == 9 && !fr.SequenceHeader && f.info.VideoCodec != 0 && f.info.AudioCodec != 0 {
				break
			}
		}
		f.pos += 11 + int64(bodyLen) + 4
	}
	f.pos = f.start
	if f.info.Last = f.lastTimestamp(); f.info.Last > 0 {
		f.info.Duration = f.info.Last + frameMs
	}
	return f, nil
}

// tagHeaderPeek is how much of a tag body the reader reads to parse its
// header without reading the tag: enough for an Enhanced RTMP header with a
// TimestampOffsetNano ModEx, a multitrack track id and size and a CTS
// (1+6+1+4+1+3+3 = 19 bytes), the longest that publishers send. A header
// beyond it (a large ModEx) parses as PacketUnknown, never as a keyframe.
const tagHeaderPeek = 32

func kindIdx(k Kind) int {
	if k == KindAudio {
		return 1
	}
	return 0
}

// tagHeader reads the tag header at off: type, body length, timestamp.
func (f *FLVReader) tagHeader(off int64) (uint8, uint32, uint32, error) {
	if off+11 > f.size {
		if off >= f.size || off+4 >= f.size {
			return 0, 0, 0, io.EOF
		}
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	h := f.hdr[:11]
	if err := readFull(f.r, h, off); err != nil {
		return 0, 0, 0, err
	}
	typ := h[0] & 0x1f
	n := uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
	ts := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) | uint32(h[7])<<24
	if off+11+int64(n) > f.size {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	if h[0]&0x20 != 0 { // encrypted/filtered tag: not playable
		typ = 0
	}
	return typ, n, ts, nil
}

func (f *FLVReader) readTag(off int64, k Kind, n, ts uint32) (*Message, error) {
	m := f.pool.Get(int(n))
	if err := readFull(f.r, m.Payload, off+11); err != nil {
		m.Release()
		return nil, err
	}
	m.Kind = k
	m.Timestamp = ts
	m.Parse()
	return m, nil
}

// lastTimestamp reads the last tag through the final PreviousTagSize.
func (f *FLVReader) lastTimestamp() uint32 {
	var b [4]byte
	if f.size < f.start+15 || readFull(f.r, b[:], f.size-4) != nil {
		return 0
	}
	n := int64(binary.BigEndian.Uint32(b[:]))
	off := f.size - 4 - n
	if n < 11 || off < f.start {
		return 0
	}
	typ, _, ts, err := f.tagHeader(off)
	if err != nil || (typ != 8 && typ != 9 && typ != 18) {
		return 0
	}
	return ts
}

// Grow tells the reader that the file, still being written, now has size
// bytes: Next goes on past where it stopped. A tag cut by the old size was
// not consumed (Next returned io.ErrUnexpectedEOF without moving on), so it
// is read whole once it is all there.
func (f *FLVReader) Grow(size int64) {
	if size <= f.size {
		return
	}
	f.size = size
	if last := f.lastTimestamp(); last > f.info.Last {
		f.info.Last, f.info.Duration = last, last+frameMs
	}
}

func (f *FLVReader) Info() FileInfo { return f.info }

func (f *FLVReader) Headers() []*Message {
	var out []*Message
	for _, m := range f.first {
		if m != nil {
			out = append(out, m.Retain())
		}
	}
	return out
}

// Next returns the next audio or video tag. Sequence headers equal to the
// current ones are skipped; script tags are dropped.
func (f *FLVReader) Next() (*Message, error) {
	for {
		typ, n, ts, err := f.tagHeader(f.pos)
		if err != nil {
			return nil, err
		}
		off := f.pos
		f.pos += 11 + int64(n) + 4
		if (typ != 8 && typ != 9) || n == 0 {
			continue
		}
		m, err := f.readTag(off, Kind(typ), n, ts)
		if err != nil {
			return nil, err
		}
		if m.IsSequenceHeader() {
			k := kindIdx(m.Kind)
			if cur := f.hdrs[k]; cur != nil && bytes.Equal(cur.Payload, m.Payload) {
				m.Release()
				continue
			}
			if f.hdrs[k] != nil {
				f.hdrs[k].Release()
			}
			f.hdrs[k] = m.Retain()
			return m, nil
		}
		if m.IsKeyframe() {
			f.noteKey(ts, off)
		}
		return m, nil
	}
}

func (f *FLVReader) noteKey(ts uint32, pos int64) {
	if l := len(f.index); l == 0 || pos > f.index[l-1].pos && ts >= f.index[l-1].ts {
		f.index = append(f.index, flvKey{ts, pos})
	}
}

// Seek positions the reader at the keyframe at or before ms.
func (f *FLVReader) Seek(ms uint32) (uint32, error) {
	// Start from the last indexed keyframe at or before ms, then scan.
	best := flvKey{pos: -1}
	from := f.start
	for _, k := range f.index {
		if k.ts > ms {
			break
		}
		best, from = k, k.pos
	}
	var firstAudio, bestAudio = flvKey{pos: -1}, flvKey{pos: -1}
	hasVideo := f.info.VideoCodec != 0
	for pos := from; ; {
		typ, n, ts, err := f.tagHeader(pos)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if typ == 9 && n > 0 {
			var b [tagHeaderPeek]byte
			k := min(int(n), len(b))
			if err := readFull(f.r, b[:k], pos+11); err != nil {
				return 0, err
			}
			if fr := ParseVideo(b[:k]); fr.Keyframe {
				if ts > ms && best.pos >= 0 {
					break
				}
				f.noteKey(ts, pos)
				best = flvKey{ts, pos}
				if ts > ms {
					break
				}
			}
		} else if typ == 8 && !hasVideo {
			if firstAudio.pos < 0 {
				firstAudio = flvKey{ts, pos}
			}
			if ts > ms {
				break
			}
			bestAudio = flvKey{ts, pos}
		}
		pos += 11 + int64(n) + 4
	}
	if !hasVideo {
		best = bestAudio
		if best.pos < 0 {
			best = firstAudio
		}
	}
	if best.pos < 0 {
		f.pos = f.size // nothing to play from there
		return ms, nil
	}
	f.pos = best.pos
	return best.ts, nil
}

// Close releases the retained headers.
func (f *FLVReader) Close() error {
	for i := range f.hdrs {
		if f.hdrs[i] != nil {
			f.hdrs[i].Release()
			f.hdrs[i] = nil
		}
		if f.first[i] != nil {
			f.first[i].Release()
			f.first[i] = nil
		}
	}
	return nil
}
