package remux

// EnhanceLegacyHEVC rewrites a CodecID 12 message: [frameType<<4|12,
// packetType, SI24 cts, data] becomes [0x80|frameType<<4|packetType,
// "hvc1", (cts for CodedFrames), data], from the Frame parsed when it was
// read. Packet types: sequence header → SequenceStart, NALUs →
// CodedFrames, end of sequence → SequenceEnd. Command frames and anything
// else are dropped (nil). m's reference is taken; the new message comes
// from pool. Players of recordings (appliance/vod) and live players that
// announced hvc1 get pre-standard HEVC so.
func EnhanceLegacyHEVC(m *Message, pool *Pool) *Message {
	f := m.Frame
	var pt byte
	switch f.Packet {
	case PacketSequenceStart:
		pt = 0
	case PacketCodedFrames:
		pt = 1
	case PacketSequenceEnd:
		pt = 2
	default:
		m.Release()
		return nil
	}
	hdr := []byte{0x80 | f.FrameType<<4 | pt, 'h', 'v', 'c', '1'}
	if pt == 1 {
		hdr = append(hdr, byte(f.CTS>>16), byte(f.CTS>>8), byte(f.CTS))
	}
	data := f.Data(m.Payload)
	n := pool.Get(len(hdr) + len(data))
	copy(n.Payload[copy(n.Payload, hdr):], data)
	n.Kind, n.Timestamp = m.Kind, m.Timestamp
	n.Parse()
	m.Release()
	return n
}
