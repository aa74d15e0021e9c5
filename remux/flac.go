package remux

import (
	"bytes"
	"fmt"
)

// FLACStreamInfo is a FLAC STREAMINFO metadata block (RFC 9639 §8.2): the
// configuration of an Enhanced RTMP fLaC track and of a dfLa box.
type FLACStreamInfo struct {
	MinBlockSize, MaxBlockSize uint16 // samples per frame
	SampleRate                 uint32
	Channels                   uint8
	BitsPerSample              uint8
	// Raw is the block's 34 bytes of data (aliasing the parsed input);
	// Blocks is every metadata block, headers included, STREAMINFO first
	// (just STREAMINFO, its header built, for a bare STREAMINFO).
	Raw    []byte
	Blocks []byte
}

// flacStreamInfoLen is the size of a FLAC STREAMINFO block's data.
const flacStreamInfoLen = 34

// ParseFLACConfig parses a FLAC sequence start in any of the forms
// publishers send: the Enhanced RTMP v2 text's "fLaC" and the metadata
// blocks, the metadata blocks alone (a dfLa box's content), or the bare
// 34 bytes of STREAMINFO (gortmplib, and ffmpeg's FLAC extradata).
func ParseFLACConfig(b []byte) (FLACStreamInfo, error) {
	b = bytes.TrimPrefix(b, []byte("fLaC"))
	var si FLACStreamInfo
	switch {
	case len(b) == flacStreamInfoLen:
		si.Raw = b
		si.Blocks = append([]byte{0x80, 0, 0, flacStreamInfoLen}, b...)
	case len(b) >= 4+flacStreamInfoLen && b[0]&0x7F == 0 && int(b[1])<<16|int(b[2])<<8|int(b[3]) == flacStreamInfoLen:
		si.Raw, si.Blocks = b[4:4+flacStreamInfoLen], flacBlocks(b)
	default:
		return FLACStreamInfo{}, fmt.Errorf("flac: no STREAMINFO in %d bytes", len(b))
	}
	r := NewBitReader(si.Raw)
	si.MinBlockSize, si.MaxBlockSize = uint16(r.U(16)), uint16(r.U(16))
	r.Skip(48) // minimum and maximum frame size
	si.SampleRate = r.U(20)
	si.Channels = uint8(r.U(3)) + 1
	si.BitsPerSample = uint8(r.U(5)) + 1
	if si.SampleRate == 0 || si.MinBlockSize < 16 || si.MaxBlockSize < si.MinBlockSize {
		return FLACStreamInfo{}, fmt.Errorf("flac: STREAMINFO with sample rate %d, block sizes %d..%d", si.SampleRate, si.MinBlockSize, si.MaxBlockSize)
	}
	return si, nil
}

// flacBlocks returns the metadata blocks at the start of b up to the one
// flagged last (or the last whole one), with that one flagged last: what
// a dfLa box holds.
func flacBlocks(b []byte) []byte {
	p := 0
	for p+4 <= len(b) {
		n := 4 + (int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3]))
		if n > len(b)-p {
			break
		}
		last := b[p]&0x80 != 0
		p += n
		if last {
			return b[:p]
		}
	}
	out := bytes.Clone(b[:p])
	// Flag the last whole block: find its start again.
	for q := 0; q < p; {
		n := 4 + (int(out[q+1])<<16 | int(out[q+2])<<8 | int(out[q+3]))
		if q+n == p {
			out[q] |= 0x80
		}
		q += n
	}
	return out
}
