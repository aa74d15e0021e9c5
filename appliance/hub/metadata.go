package hub

import (
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// fileKeys are onMetaData properties that describe a file, not a live
// stream: an encoder publishing from a file (ffmpeg -re -i clip.mp4, or
// -t 30) announces its length, and live players then act on it —
// rtmpdump reports "Download may be incomplete", ffprobe shows a
// duration. The recorder writes its own into its files.
var fileKeys = [...]string{"duration", "filesize"}

// liveMetadata removes fileKeys from a publisher's onMetaData m, in
// place: once per publish (when the metadata arrives, before the hub
// shares m), so no player pays for a copy. A body that does not decode,
// or whose rewrite would not fit, is left as it is.
func liveMetadata(m *remux.Message) {
	vals, err := amf.DecodeAMF0(m.Payload)
	if err != nil || len(vals) < 2 {
		return
	}
	var kept []amf.Property
	dropped := false
	for _, p := range amf.Props(vals[1]) {
		if isFileKey(p.Key) {
			dropped = true
			continue
		}
		kept = append(kept, p)
	}
	if !dropped {
		return
	}
	switch vals[1].(type) {
	case amf.ECMAArray:
		vals[1] = amf.ECMAArray(kept)
	case amf.Object:
		vals[1] = amf.Object(kept)
	default:
		return
	}
	body, err := amf.AppendAMF0(nil, vals...)
	if err != nil || len(body) > len(m.Payload) {
		return
	}
	m.Payload = m.Payload[:copy(m.Payload, body)]
}

func isFileKey(k string) bool {
	for _, f := range fileKeys {
		if k == f {
			return true
		}
	}
	return false
}
