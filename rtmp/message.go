// Package rtmp speaks the RTMP wire protocol: handshake, chunk stream,
// commands, the server-side connection state machine and a client. AMF, the
// encoding of its commands, lives in remux/amf with the other formats. It
// knows nothing of files, configuration or the stream hub; those reach it
// through Handler.
package rtmp

// RTMP message type ids (RTMP spec 1.0 §5.4, §7.1).
const (
	typeSetChunkSize     = 1
	typeAbort            = 2
	typeAck              = 3
	typeUserControl      = 4
	typeWindowAckSize    = 5
	typeSetPeerBandwidth = 6
	typeAudio            = 8
	typeVideo            = 9
	typeDataAMF3         = 15
	typeSharedObjAMF3    = 16
	typeCommandAMF3      = 17
	typeDataAMF0         = 18
	typeSharedObjAMF0    = 19
	typeCommandAMF0      = 20
	typeAggregate        = 22
)

// User control event types (RTMP spec §7.1.7).
const (
	ucStreamBegin      = 0
	ucStreamEOF        = 1
	ucStreamDry        = 2
	ucSetBufferLength  = 3
	ucStreamIsRecorded = 4
	ucPingRequest      = 6
	ucPingResponse     = 7
)

// Chunk stream ids tapedeck writes on. Control must be 2; the rest follow
// common server practice (one csid per kind keeps type-1 headers compact).
const (
	csidControl = 2
	csidCommand = 3
	csidStatus  = 5 // onStatus and data on a media stream
	csidAudio   = 6
	csidVideo   = 7
)
