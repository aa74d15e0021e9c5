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

// maxMultitrackTraks bounds the traks of an MP4 file played as multitrack
// tracks, after the default video and audio.
const maxMultitrackTraks = 14

// appendOneTrackHeader appends the tag header of an Enhanced RTMP v2
// Multitrack message of the OneTrack layout (enhanced-rtmp.md §5) carrying
// track of codec: a SequenceStart (seqHeader) or CodedFrames, with the
// composition offset for the codecs that have one. Playback sends the
// further traks of a recording this way.
//
//	video: [0x80|frameType<<4|6] [0x0<<4|packetType] [fourcc] [trackId] {SI24 cts}
//	audio: [0x90|5]              [0x0<<4|packetType] [fourcc] [trackId]
func appendOneTrackHeader(dst []byte, kind Kind, codec FourCC, track uint8, key, seqHeader bool, cts int32) []byte {
	pt := byte(exCodedFrames)
	if seqHeader {
		pt = exSequenceStart
	}
	if kind == KindAudio {
		dst = append(dst, flvSoundEx<<4|exAudioMultitrack, pt)
	} else {
		ft := byte(2)
		if key || seqHeader {
			ft = videoFrameKey
		}
		dst = append(dst, 0x80|ft<<4|exVideoMultitrack, pt)
	}
	dst = append(dst, byte(codec>>24), byte(codec>>16), byte(codec>>8), byte(codec), track)
	if kind == KindVideo && !seqHeader && hasCTS(codec) {
		dst = append(dst, byte(cts>>16), byte(cts>>8), byte(cts))
	}
	return dst
}

// oneTrackHeaderLen is the length of appendOneTrackHeader's CodedFrames header.
func oneTrackHeaderLen(kind Kind, codec FourCC) int {
	if kind == KindVideo && hasCTS(codec) {
		return 10
	}
	return 7
}

// LegacyTrack0 returns track 0 of a multitrack message m as the legacy tag
// a player without Enhanced RTMP reads (enhanced-rtmp.md §5: "when
// relaying to a legacy client, forward only track 0"): H.264 as
// [frameType<<4|7, AVCPacketType, SI24 cts, data], AAC as [0xAF,
// AACPacketType, data]. nil (m released) when m has no track 0 of those
// codecs, or track 0's packet has no legacy form. m's reference is taken;
// the new message comes from pool.
func LegacyTrack0(m *Message, pool *Pool) *Message {
	var hdr [5]byte
	var h []byte
	var data []byte
	for f, ok := m.Frame, m.Frame.Multitrack != NotMultitrack && m.Frame.Packet != PacketUnknown; ok; f, ok = f.NextTrack(m.Kind, m.Payload) {
		if f.Track != 0 {
			continue
		}
		var pt byte
		switch f.Packet {
		case PacketSequenceStart:
			pt = 0
		case PacketCodedFrames, PacketCodedFramesX:
			pt = 1
		case PacketSequenceEnd:
			pt = 2
		default:
			continue
		}
		switch {
		case m.Kind == KindVideo && f.Codec == CodecAVC:
			ft := f.FrameType
			if ft != videoFrameKey && ft != 2 && ft != 3 {
				ft = 2
				if f.Keyframe || f.SequenceHeader {
					ft = videoFrameKey
				}
			}
			hdr = [5]byte{ft<<4 | flvVideoAVC, pt, byte(f.CTS >> 16), byte(f.CTS >> 8), byte(f.CTS)}
			h = hdr[:5]
		case m.Kind == KindAudio && f.Codec == CodecAAC && pt < 2:
			hdr[0], hdr[1] = flvSoundAAC<<4|0x0F, pt
			h = hdr[:2]
		default:
			continue
		}
		data = f.Data(m.Payload)
		break
	}
	if h == nil {
		m.Release()
		return nil
	}
	n := pool.Get(len(h) + len(data))
	copy(n.Payload[copy(n.Payload, h):], data)
	n.Kind, n.Timestamp = m.Kind, m.Timestamp
	n.Parse()
	m.Release()
	return n
}
