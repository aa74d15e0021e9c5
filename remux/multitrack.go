package remux

// NextTrack returns the Frame of the track that follows f's in a
// ManyTracks or ManyTracksManyCodecs message (enhanced-rtmp.md §5):
// {[fourcc]} [trackId] [u24 size] [data] after f's data. payload is the tag
// body f was parsed from and kind its message kind (only video carries a
// composition offset). ok is false after the last track, for messages with
// a single track, and when the next track's header is cut or its size runs
// past the message; the tracks before it stay valid.
//
// The Frame a message carries describes its first track; a consumer that
// wants every track walks them with NextTrack:
//
//	for f, ok := m.Frame, true; ok; f, ok = f.NextTrack(m.Kind, m.Payload) { ... }
func (f Frame) NextTrack(kind Kind, payload []byte) (next Frame, ok bool) {
	if f.Multitrack != ManyTracks && f.Multitrack != ManyTracksManyCodecs || f.BodyEnd == 0 {
		return Frame{}, false
	}
	p := int(f.BodyEnd)
	if p >= len(payload) {
		return Frame{}, false
	}
	next = f
	next.CTS, next.Body, next.BodyEnd = 0, 0, 0
	if f.Multitrack == ManyTracksManyCodecs {
		if len(payload)-p < 4 {
			return Frame{}, false
		}
		next.Codec = FourCC(uint32(payload[p])<<24 | uint32(payload[p+1])<<16 | uint32(payload[p+2])<<8 | uint32(payload[p+3]))
		p += 4
	}
	if len(payload)-p < 4 {
		return Frame{}, false
	}
	next.Track = payload[p]
	size := int(payload[p+1])<<16 | int(payload[p+2])<<8 | int(payload[p+3])
	p += 4
	if size > len(payload)-p {
		return Frame{}, false
	}
	end := p + size
	if kind == KindVideo && next.Packet == PacketCodedFrames && hasCTS(next.Codec) {
		if end-p < 3 {
			return Frame{}, false
		}
		next.CTS = si24(payload[p:])
		p += 3
	}
	next.Body, next.BodyEnd = uint32(p), uint32(end)
	return next, true
}
