package remux

// PacketType is what the body of a media tag holds, read from the legacy
// AVCPacketType / AACPacketType byte or from the Enhanced RTMP
// VideoPacketType / AudioPacketType nibble (enhanced-rtmp.md §1.1, §3), and
// named the same for every codec so consumers need not know which header
// form carried it. The wire numbers differ between audio and video and
// between legacy and Enhanced headers; these values are tapedeck's own.
type PacketType uint8

// Packet types. The zero value is PacketUnknown.
const (
	// PacketUnknown: nothing a consumer can use: the header is cut short,
	// reserved, or the message is the empty legacy audio "silence" signal.
	PacketUnknown PacketType = iota
	// PacketSequenceStart: codec configuration (AVCDecoderConfigurationRecord,
	// hvcC, av1C, vpcC, AudioSpecificConfig, OpusHead, FLAC STREAMINFO, ...).
	// Legacy AVCPacketType 0 and AACPacketType 0 are this too.
	PacketSequenceStart
	// PacketCodedFrames: coded media. For avc1/hvc1/vvc1 the SI24 composition
	// offset precedes the body (Frame.CTS holds it; Frame.Body is after it).
	// Legacy AVCPacketType 1, AACPacketType 1, and the frames of legacy
	// codecs without a packet type byte (MP3, VP6, PCM, ...) are this too.
	PacketCodedFrames
	// PacketCodedFramesX: avc1/hvc1/vvc1 frames whose composition offset is
	// implied 0 (Enhanced RTMP only).
	PacketCodedFramesX
	// PacketSequenceEnd: end of sequence, empty body (legacy AVCPacketType 2).
	PacketSequenceEnd
	// PacketMetadata: Enhanced RTMP video metadata, AMF [name, value] pairs
	// such as colorInfo (enhanced-rtmp.md §1.5).
	PacketMetadata
	// PacketMPEG2TSSequenceStart: AV1's MPEG-2 TS video descriptor in place
	// of the av1C (Enhanced RTMP video packet type 5).
	PacketMPEG2TSSequenceStart
	// PacketMultichannelConfig: Enhanced RTMP audio channel order and count
	// (audio packet type 4).
	PacketMultichannelConfig
	// PacketCommand: a video command frame (VideoFrameType 5: StartSeek,
	// EndSeek), not media; no FourCC and no body follow.
	PacketCommand
)

func (p PacketType) String() string {
	switch p {
	case PacketSequenceStart:
		return "sequence-start"
	case PacketCodedFrames:
		return "coded-frames"
	case PacketCodedFramesX:
		return "coded-frames-x"
	case PacketSequenceEnd:
		return "sequence-end"
	case PacketMetadata:
		return "metadata"
	case PacketMPEG2TSSequenceStart:
		return "mpeg2ts-sequence-start"
	case PacketMultichannelConfig:
		return "multichannel-config"
	case PacketCommand:
		return "command"
	}
	return "unknown"
}

// MultitrackType is the Enhanced RTMP AvMultitrackType of a multitrack
// message (enhanced-rtmp.md §5), shifted by one so that the zero value means
// the message is not multitrack.
type MultitrackType uint8

// Multitrack layouts.
const (
	// NotMultitrack: an ordinary single-track message.
	NotMultitrack MultitrackType = iota
	// OneTrack: one track, [trackId] then its data to the end.
	OneTrack
	// ManyTracks: several tracks of one codec, {[trackId][u24 size][data]}*.
	ManyTracks
	// ManyTracksManyCodecs: several tracks, {[fourcc][trackId][u24 size][data]}*.
	ManyTracksManyCodecs
)

func (t MultitrackType) String() string {
	switch t {
	case NotMultitrack:
		return "none"
	case OneTrack:
		return "one-track"
	case ManyTracks:
		return "many-tracks"
	case ManyTracksManyCodecs:
		return "many-tracks-many-codecs"
	}
	return "reserved"
}
