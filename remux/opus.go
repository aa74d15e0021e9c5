package remux

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// OpusHead is an Opus identification header: the OpusHead packet of Ogg
// Opus (RFC 7845 §5.1), which is also the SequenceStart body of an Enhanced
// RTMP Opus track, or the dOps box of Opus in MP4 (Encapsulation of Opus in
// ISO Base Media File Format §4.3.2), which holds the same fields.
//
// Our own parser: mediacommon's opus.IDHeader (v2.9.3) reads the OpusHead
// fields big-endian, but RFC 7845 defines them little-endian, so libopus's
// pre-skip of 312 (38 01) comes out as 14337 there (TestParseOpusHead
// shows it); it also refuses versions 2..15, which the RFC says to accept.
type OpusHead struct {
	Version         uint8
	Channels        uint8  // output channel count
	PreSkip         uint16 // samples at 48 kHz to drop at the start
	InputSampleRate uint32 // the encoder's input rate, informational
	OutputGain      int16  // Q7.8 dB to apply on output
	MappingFamily   uint8  // 0 mono/stereo, 1 Vorbis order up to 8 channels, 255 unordered
	// For MappingFamily != 0: the streams in each packet, how many of them
	// are coupled (stereo), and the stream channel of each output channel
	// (255: silent). ChannelMapping aliases the parsed bytes.
	StreamCount    uint8
	CoupledCount   uint8
	ChannelMapping []byte
}

var errNotOpusHead = errors.New("opus: not an OpusHead")

// ParseOpusHead parses an OpusHead packet (little-endian fields).
func ParseOpusHead(b []byte) (OpusHead, error) {
	if len(b) < 19 || string(b[:8]) != "OpusHead" {
		return OpusHead{}, errNotOpusHead
	}
	// RFC 7845 §5.1: version 1; 2..15 share its layout (same major version).
	if b[8] == 0 || b[8] > 15 {
		return OpusHead{}, fmt.Errorf("opus: OpusHead version %d", b[8])
	}
	return parseOpusFields(b[8:], binary.LittleEndian, "OpusHead")
}

// ParseOpusDOps parses the content of a dOps box (big-endian fields,
// version 0, no magic).
func ParseOpusDOps(b []byte) (OpusHead, error) {
	if len(b) < 11 {
		return OpusHead{}, fmt.Errorf("opus: dOps of %d bytes, want at least 11", len(b))
	}
	if b[0] != 0 {
		return OpusHead{}, fmt.Errorf("opus: dOps version %d", b[0])
	}
	return parseOpusFields(b, binary.BigEndian, "dOps")
}

// parseOpusFields reads the fields OpusHead and dOps share, from the
// version byte on, in the byte order of the form what names.
func parseOpusFields(b []byte, order binary.ByteOrder, what string) (OpusHead, error) {
	h := OpusHead{
		Version:         b[0],
		Channels:        b[1],
		PreSkip:         order.Uint16(b[2:]),
		InputSampleRate: order.Uint32(b[4:]),
		OutputGain:      int16(order.Uint16(b[8:])),
		MappingFamily:   b[10],
	}
	if err := h.mapping(b[11:], what); err != nil {
		return OpusHead{}, err
	}
	return h, nil
}

// mapping reads the channel mapping table that follows the fixed fields
// and checks the channel count against the family (RFC 7845 §5.1.1).
func (h *OpusHead) mapping(rest []byte, what string) error {
	if h.Channels == 0 {
		return fmt.Errorf("opus: %s with 0 channels", what)
	}
	if h.MappingFamily == 0 {
		if h.Channels > 2 {
			return fmt.Errorf("opus: %s mapping family 0 with %d channels", what, h.Channels)
		}
		h.StreamCount, h.CoupledCount = 1, h.Channels-1
		return nil
	}
	if h.MappingFamily == 1 && h.Channels > 8 {
		return fmt.Errorf("opus: %s mapping family 1 with %d channels", what, h.Channels)
	}
	if len(rest) < 2+int(h.Channels) {
		return fmt.Errorf("opus: %s channel mapping table cut (%d bytes for %d channels)", what, len(rest), h.Channels)
	}
	h.StreamCount, h.CoupledCount = rest[0], rest[1]
	if h.StreamCount == 0 || h.CoupledCount > h.StreamCount || int(h.StreamCount)+int(h.CoupledCount) > 255 {
		return fmt.Errorf("opus: %s with %d streams, %d coupled", what, h.StreamCount, h.CoupledCount)
	}
	h.ChannelMapping = rest[2 : 2+int(h.Channels)]
	for i, c := range h.ChannelMapping {
		if c != 255 && int(c) >= int(h.StreamCount)+int(h.CoupledCount) {
			return fmt.Errorf("opus: %s channel %d maps to stream channel %d of %d", what, i, c, int(h.StreamCount)+int(h.CoupledCount))
		}
	}
	return nil
}

// AppendDOps appends h as the content of a dOps box (big-endian, version
// 0): how an MP4 writer describes the Opus track whose OpusHead came in the
// Enhanced RTMP sequence start.
func (h OpusHead) AppendDOps(b []byte) []byte {
	b = append(b, 0, h.Channels)
	b = binary.BigEndian.AppendUint16(b, h.PreSkip)
	b = binary.BigEndian.AppendUint32(b, h.InputSampleRate)
	b = binary.BigEndian.AppendUint16(b, uint16(h.OutputGain))
	b = append(b, h.MappingFamily)
	if h.MappingFamily != 0 {
		b = append(b, h.StreamCount, h.CoupledCount)
		b = append(b, h.ChannelMapping...)
	}
	return b
}
