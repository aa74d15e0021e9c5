package rtmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// AMF0 as the AMF 0 specification lays it out (§2.2 number marker 0x00 +
// IEEE-754 double, §2.4 string marker 0x02 + u16 length, §2.5 object
// marker 0x03, properties as u16 length + UTF-8 key + value, ending with
// an empty key and the object-end marker 0x09, §2.12 strict array marker
// 0x0A + u32 count), written by hand so the test does not check the
// encoder against itself.
func amf0Key(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}
func amf0Str(s string) []byte { return append([]byte{0x02}, amf0Key(s)...) }
func amf0Num(f float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0x00}, math.Float64bits(f))
}

func TestServerCapsBytes(t *testing.T) {
	var want []byte
	cat := func(bs ...[]byte) {
		for _, b := range bs {
			want = append(want, b...)
		}
	}
	cat([]byte{0x03}) // object
	cat(amf0Key("fourCcList"), []byte{0x0A, 0, 0, 0, 10})
	for _, s := range []string{"avc1", "hvc1", "av01", "vp09", "mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"} {
		cat(amf0Str(s))
	}
	cat(amf0Key("videoFourCcInfoMap"), []byte{0x03})
	for _, s := range []string{"avc1", "hvc1", "av01", "vp09"} {
		cat(amf0Key(s), amf0Num(4)) // FourCcInfoMask.CanForward
	}
	cat([]byte{0, 0, 0x09})
	cat(amf0Key("audioFourCcInfoMap"), []byte{0x03})
	for _, s := range []string{"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"} {
		cat(amf0Key(s), amf0Num(4))
	}
	cat([]byte{0, 0, 0x09})
	// CapsExMask.Reconnect 0x01 | Multitrack 0x02 | ModEx 0x04 | TimestampNanoOffset 0x08.
	cat(amf0Key("capsEx"), amf0Num(15))
	cat([]byte{0, 0, 0x09})

	got, err := amf.AppendAMF0(nil, amf.Object(serverCaps()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("serverCaps AMF0:\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(want))
	}
	// The wire value spot-checked against the spec's numbers: 4.0 is
	// 0x4010000000000000, 15.0 is 0x402E000000000000.
	if !bytes.Contains(got, []byte{0x00, 0x40, 0x10, 0, 0, 0, 0, 0, 0}) || !bytes.Contains(got, []byte{0x00, 0x40, 0x2E, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("CanForward or capsEx numbers missing from %x", got)
	}
}

func TestParseCaps(t *testing.T) {
	hevc, av1, opus := remux.CodecHEVC, remux.CodecAV1, remux.CodecOpus
	// gortmplib v1.0.1's play connect (client.go).
	gortmplib := amf.Object{
		{Key: "app", Value: "live"}, {Key: "fpad", Value: false}, {Key: "capabilities", Value: 15.0},
		{Key: "videoFunction", Value: 0.0},
		{Key: "fourCcList", Value: []any{"av01", "vp09", "hvc1", "avc1", "Opus", "fLaC", "ac-3", "mp4a", ".mp3"}},
	}
	for _, tc := range []struct {
		name     string
		obj      amf.Object
		enhanced bool
		codec    remux.FourCC
		mask     uint8
		capsEx   uint32
	}{
		{"legacy (ffmpeg 5.1, rtmpdump)", amf.Object{{Key: "app", Value: "live"}, {Key: "videoCodecs", Value: 252.0}}, false, hevc, 0, 0},
		{"gortmplib", gortmplib, true, opus, CanDecode | CanForward, 0},
		{"gortmplib, not vvc1", gortmplib, true, remux.CodecVVC, 0, 0},
		{"v2 map", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: 3.0}}}}, true, hevc, CanDecode | CanEncode, 0},
		{"v2 map wildcard overrides", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "av01", Value: 1.0}, {Key: "*", Value: 4.0}}}}, true, av1, CanForward, 0},
		{"v2 audio map ECMA", amf.Object{{Key: "audioFourCcInfoMap", Value: amf.ECMAArray{{Key: "Opus", Value: 1.0}}}}, true, opus, CanDecode, 0},
		{"capsEx", amf.Object{{Key: "capsEx", Value: 5.0}}, false, hevc, 0, CapsExReconnect | CapsExModEx},
		{"wrong types ignored", amf.Object{{Key: "fourCcList", Value: "hvc1"}, {Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: "1"}}}, {Key: "capsEx", Value: -1.0}}, false, hevc, 0, 0},
		{"not a FourCC", amf.Object{{Key: "fourCcList", Value: []any{"hevc1", ""}}}, false, hevc, 0, 0},
	} {
		c := ParseCaps(tc.obj)
		if c.Enhanced() != tc.enhanced || c.Mask(tc.codec) != tc.mask || c.CapsEx != tc.capsEx {
			t.Errorf("%s: Enhanced %v, Mask(%v) %#x, CapsEx %#x; want %v, %#x, %#x", tc.name, c.Enhanced(), tc.codec, c.Mask(tc.codec), c.CapsEx, tc.enhanced, tc.mask, tc.capsEx)
		}
		if c.Takes(tc.codec) != (tc.mask != 0) {
			t.Errorf("%s: Takes(%v) = %v with mask %#x", tc.name, tc.codec, c.Takes(tc.codec), tc.mask)
		}
	}
	if c := ParseCaps(amf.Object{{Key: "capsEx", Value: 7.0}}); !c.Has(CapsExReconnect|CapsExMultitrack) || c.Has(CapsExTimestampNanoOffset) {
		t.Errorf("Has on capsEx 7: wrong")
	}
}

// A client sees tapedeck's Enhanced RTMP support in the connect _result,
// and the server keeps what the client announced in ConnInfo.Caps.
func TestConnectAnnouncesCaps(t *testing.T) {
	h := connectHandler{infos: make(chan ConnInfo, 1)}
	_, addr, _ := startBIServer(t, ServerConfig{}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, "rtmp://"+addr+"/live/x", ClientConfig{ConnectProps: amf.Object{
		{Key: "fourCcList", Value: []any{"hvc1"}}, {Key: "capsEx", Value: 1.0},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := ParseCaps(c.ServerProperties)
	for _, codec := range append(serverVideoCodecs[:], serverAudioCodecs[:]...) {
		if sc.Mask(codec)&CanForward == 0 {
			t.Errorf("server does not announce %v: %v", codec, c.ServerProperties)
		}
	}
	if sc.CapsEx != serverCapsEx || sc.Takes(remux.CodecVVC) {
		t.Errorf("server caps %+v", sc)
	}
	if fms := c.ServerProperties.String("fmsVer"); fms == "" {
		t.Errorf("fmsVer gone from the connect _result: %v", c.ServerProperties)
	}
	ci := <-h.infos
	if !ci.Caps.Takes(remux.CodecHEVC) || ci.Caps.Takes(remux.CodecAV1) || !ci.Caps.Has(CapsExReconnect) {
		t.Errorf("ConnInfo.Caps = %+v", ci.Caps)
	}
}

// legacyHandler answers connect like nginx-rtmp (CapsAnnouncer).
type legacyHandler struct{ connectHandler }

func (legacyHandler) ConnectCaps(*ConnInfo) []amf.Property { return nil }

func TestConnectCapsAnnouncer(t *testing.T) {
	_, addr, _ := startBIServer(t, ServerConfig{}, legacyHandler{connectHandler{infos: make(chan ConnInfo, 1)}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, "rtmp://"+addr+"/live/x", ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ParseCaps(c.ServerProperties).Enhanced() || c.ServerProperties.String("fmsVer") == "" {
		t.Errorf("legacy connect _result properties: %v", c.ServerProperties)
	}
}

// FuzzParseCaps: whatever AMF0 a client puts in its connect command
// object, ParseCaps neither panics nor keeps a key that is not a FourCC.
func FuzzParseCaps(f *testing.F) {
	for _, o := range []amf.Object{
		{{Key: "fourCcList", Value: []any{"av01", "vp09", "hvc1", "avc1", "Opus", "fLaC", "ac-3", "mp4a", ".mp3"}}},
		{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "*", Value: 4.0}, {Key: "vp09", Value: 3.0}}}, {Key: "capsEx", Value: 15.0}},
		{{Key: "audioFourCcInfoMap", Value: amf.ECMAArray{{Key: "Opus", Value: 1.0}}}, {Key: "fourCcList", Value: amf.ECMAArray{{Key: "0", Value: "hvc1"}}}},
	} {
		b, err := amf.AppendAMF0(nil, o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := amf.DecodeAMF0(b)
		if err != nil || len(vals) == 0 {
			return
		}
		o, _ := vals[0].(amf.Object)
		c := ParseCaps(o)
		for k := range c.Codecs {
			if len(k) != 4 && k != "*" {
				t.Fatalf("kept key %q", k)
			}
		}
		_ = c.Takes(remux.CodecHEVC)
	})
}
