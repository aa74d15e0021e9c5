package rtmp

import (
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// FourCcInfoMask bits of a videoFourCcInfoMap / audioFourCcInfoMap entry
// (enhanced-rtmp.md §6).
const (
	CanDecode  = 0x01
	CanEncode  = 0x02
	CanForward = 0x04
)

// CapsExMask bits of capsEx (enhanced-rtmp.md §6).
const (
	CapsExReconnect           = 0x01
	CapsExMultitrack          = 0x02
	CapsExModEx               = 0x04
	CapsExTimestampNanoOffset = 0x08
)

// Caps is what an Enhanced RTMP peer announced in its connect command
// object (or a server in its connect _result): the codecs it takes, with
// their FourCcInfoMask, and its capsEx. A peer that announced nothing
// (every legacy client: ffmpeg before 6.1, rtmpdump, GStreamer, VLC) has
// the zero Caps, which takes no Enhanced RTMP codec.
type Caps struct {
	// Codecs maps a FourCC string, or the wildcard "*", to its
	// FourCcInfoMask. A fourCcList entry (v1, "can receive") counts as
	// CanDecode|CanForward; the maps' values are kept as sent.
	Codecs map[string]uint8
	// CapsEx is the capsEx number (CapsEx* bits), 0 if absent.
	CapsEx uint32
}

// ParseCaps reads fourCcList (strict or ECMA array of strings),
// videoFourCcInfoMap, audioFourCcInfoMap and capsEx from objs; nil objects
// are skipped and later ones add to earlier ones. Values of the wrong type
// are ignored, so a peer cannot make us fail its connect with them.
func ParseCaps(objs ...amf.Object) Caps {
	var c Caps
	add := func(key string, mask uint8) {
		if len(key) != 4 && key != "*" {
			return
		}
		if c.Codecs == nil {
			c.Codecs = make(map[string]uint8)
		}
		c.Codecs[key] |= mask
	}
	for _, o := range objs {
		if v, ok := o.Get("fourCcList"); ok {
			switch l := v.(type) {
			case []any:
				for _, e := range l {
					if s, ok := e.(string); ok {
						add(s, CanDecode|CanForward)
					}
				}
			case amf.ECMAArray:
				for _, p := range l {
					if s, ok := p.Value.(string); ok {
						add(s, CanDecode|CanForward)
					}
				}
			}
		}
		for _, k := range [...]string{"videoFourCcInfoMap", "audioFourCcInfoMap"} {
			v, _ := o.Get(k)
			for _, p := range amf.Props(v) {
				if f, ok := p.Value.(float64); ok && f >= 0 && f < 256 {
					add(p.Key, uint8(f))
				}
			}
		}
		if f, ok := o.Number("capsEx"); ok && f >= 0 && f < 1<<32 {
			c.CapsEx |= uint32(f)
		}
	}
	return c
}

// Enhanced reports whether the peer announced any Enhanced RTMP codec.
func (c Caps) Enhanced() bool { return len(c.Codecs) > 0 }

// Mask is the FourCcInfoMask the peer announced for codec; the wildcard
// "*" overrides the codec's own entry (enhanced-rtmp.md §6).
func (c Caps) Mask(codec remux.FourCC) uint8 {
	if m, ok := c.Codecs["*"]; ok {
		return m
	}
	return c.Codecs[codec.String()]
}

// Takes reports whether the peer announced codec at all, whatever the
// mask: SupportsCodec's meaning (a player or an upstream that lists a
// codec is sent it).
func (c Caps) Takes(codec remux.FourCC) bool {
	if _, ok := c.Codecs["*"]; ok {
		return true
	}
	_, ok := c.Codecs[codec.String()]
	return ok
}

// Has reports whether capsEx carries all of bits.
func (c Caps) Has(bits uint32) bool { return c.CapsEx&bits == bits }

// Codecs tapedeck takes from publishers and hands on unchanged to players,
// recordings and upstreams, announced in its connect _result.
var (
	serverVideoCodecs = [...]remux.FourCC{remux.CodecAVC, remux.CodecHEVC, remux.CodecAV1, remux.CodecVP9}
	serverAudioCodecs = [...]remux.FourCC{remux.CodecAAC, remux.CodecOpus, remux.CodecFLAC, remux.CodecAC3, remux.CodecEAC3, remux.CodecMP3}
)

// serverCapsEx is what tapedeck does of Enhanced RTMP v2: it sends
// NetConnection.Connect.ReconnectRequest when it shuts down
// (caps_reconnect.go), parses multitrack messages, ModEx prefixes and
// their nanosecond timestamp offsets.
const serverCapsEx = CapsExReconnect | CapsExMultitrack | CapsExModEx | CapsExTimestampNanoOffset

// serverCaps are the Enhanced RTMP properties of tapedeck's connect _result
// (enhanced-rtmp.md §6: "the server SHOULD state its support via
// videoFourCcInfoMap, capsEx, …"): fourCcList for v1 clients, the v2 info
// maps with CanForward — tapedeck records and relays these codecs, it does
// not decode or encode them — and capsEx.
func serverCaps() []amf.Property {
	list := make([]any, 0, len(serverVideoCodecs)+len(serverAudioCodecs))
	video := make(amf.Object, 0, len(serverVideoCodecs))
	audio := make(amf.Object, 0, len(serverAudioCodecs))
	for _, c := range serverVideoCodecs {
		list = append(list, c.String())
		video = append(video, amf.Property{Key: c.String(), Value: float64(CanForward)})
	}
	for _, c := range serverAudioCodecs {
		list = append(list, c.String())
		audio = append(audio, amf.Property{Key: c.String(), Value: float64(CanForward)})
	}
	return []amf.Property{
		{Key: "fourCcList", Value: list},
		{Key: "videoFourCcInfoMap", Value: video},
		{Key: "audioFourCcInfoMap", Value: audio},
		{Key: "capsEx", Value: float64(serverCapsEx)},
	}
}

// CapsAnnouncer is an optional Handler method that chooses the Enhanced
// RTMP properties of a connection's connect _result; a Handler without it
// announces tapedeck's (serverCaps). Returning nil answers like a legacy
// server (nginx-rtmp: fmsVer, capabilities, mode and nothing more), which
// tests use to stand in for one.
type CapsAnnouncer interface {
	ConnectCaps(ci *ConnInfo) []amf.Property
}

// connectCaps is what c's connect _result announces.
func (c *conn) connectCaps() []amf.Property {
	if a, ok := c.srv.handler.(CapsAnnouncer); ok {
		return a.ConnectCaps(&c.info)
	}
	return serverCaps()
}
