package rtmp

import (
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// SupportsCodec reports whether a peer announced Enhanced RTMP support for
// codec in one of objs (enhanced-rtmp.md §6): a fourCcList (strict or ECMA
// array of strings) holding its FourCC or "*", or a videoFourCcInfoMap /
// audioFourCcInfoMap with its FourCC or "*" as a key, whatever the
// FourCcInfoMask value (CanDecode, CanEncode, CanForward). A client puts
// these in its connect command object (ConnInfo.Connect); an Enhanced RTMP
// server answers with them in the properties or the information object of
// the connect _result (Client.ServerProperties, Client.ConnectInfo). Nil
// objects are skipped; a peer that announced nothing supports nothing.
func SupportsCodec(codec remux.FourCC, objs ...amf.Object) bool {
	for _, o := range objs {
		if ParseCaps(o).Takes(codec) {
			return true
		}
	}
	return false
}

// Supports reports whether the client announced in its connect that it can
// receive codec over Enhanced RTMP (SupportsCodec of ConnInfo.Connect).
func (ci *ConnInfo) Supports(codec remux.FourCC) bool {
	return SupportsCodec(codec, ci.Connect)
}
