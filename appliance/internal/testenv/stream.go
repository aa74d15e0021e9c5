package testenv

import (
	"testing"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// A synthetic H.264 + AAC stream as RTMP carries it (FLV tag bodies), for
// tests that publish with the Go client: the hub, the recorder and the
// relays parse these headers, but nothing decodes the frames.
var (
	AVCHeader = []byte{0x17, 0x00, 0, 0, 0, // AVC sequence header
		0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80}
	AVCKeyframe   = []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00}
	AVCInterframe = []byte{0x27, 0x01, 0, 0, 0, 0, 0, 0, 3, 0x41, 0x9a, 0x02}
	AACHeader     = []byte{0xAF, 0x00, 0x12, 0x10}
	AACFrame      = []byte{0xAF, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}
)

// Metadata is the onMetaData body that goes with the synthetic stream
// (640x360 at 25 fps, AVC and AAC).
func Metadata(t testing.TB) []byte {
	t.Helper()
	body, err := amf.AppendAMF0(nil, "onMetaData", amf.ECMAArray{
		{Key: "width", Value: 640.0}, {Key: "height", Value: 360.0}, {Key: "framerate", Value: 25.0},
		{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}
