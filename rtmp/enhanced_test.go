package rtmp

import (
	"context"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

func TestSupportsCodec(t *testing.T) {
	hevc, av1 := remux.CodecHEVC, remux.CodecAV1
	for _, tc := range []struct {
		name  string
		obj   amf.Object
		codec remux.FourCC
		want  bool
	}{
		{"nginx-rtmp", amf.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}}, hevc, false},
		{"nothing", nil, hevc, false},
		{"fourCcList", amf.Object{{Key: "fourCcList", Value: []any{"av01", "hvc1"}}}, hevc, true},
		{"fourCcList without it", amf.Object{{Key: "fourCcList", Value: []any{"av01"}}}, hevc, false},
		{"fourCcList wildcard", amf.Object{{Key: "fourCcList", Value: []any{"*"}}}, av1, true},
		{"fourCcList ECMA", amf.Object{{Key: "fourCcList", Value: amf.ECMAArray{{Key: "0", Value: "hvc1"}}}}, hevc, true},
		{"fourCcList not strings", amf.Object{{Key: "fourCcList", Value: []any{1752589105.0}}}, hevc, false},
		{"fourCcList is case sensitive", amf.Object{{Key: "fourCcList", Value: []any{"HVC1"}}}, hevc, false},
		{"info map", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: 4.0}}}}, hevc, true},
		{"info map ECMA", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.ECMAArray{{Key: "*", Value: 7.0}}}}, av1, true},
		{"info map without it", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "av01", Value: 1.0}}}}, hevc, false},
		{"audio map", amf.Object{{Key: "audioFourCcInfoMap", Value: amf.Object{{Key: "Opus", Value: 4.0}}}}, remux.CodecOpus, true},
	} {
		if got := SupportsCodec(tc.codec, nil, tc.obj); got != tc.want {
			t.Errorf("%s: SupportsCodec(%v) = %v, want %v", tc.name, tc.codec, got, tc.want)
		}
		ci := &ConnInfo{Connect: tc.obj}
		if got := ci.Supports(tc.codec); got != tc.want {
			t.Errorf("%s: ConnInfo.Supports(%v) = %v, want %v", tc.name, tc.codec, got, tc.want)
		}
	}
}

// connectHandler hands over the ConnInfo of every connect.
type connectHandler struct{ infos chan ConnInfo }

func (h connectHandler) OnConnect(ci *ConnInfo) error {
	h.infos <- *ci
	return nil
}

func (connectHandler) OnPublish(*ConnInfo, *StreamRequest) (Publisher, error) {
	return nil, ErrUnauthorized
}

func (connectHandler) OnPlay(*ConnInfo, *StreamRequest) (Subscription, error) {
	return nil, ErrStreamNotFound
}

// The connect command object reaches the handler as ConnInfo.Connect, with
// what an Enhanced RTMP client announced in it.
func TestConnInfoConnect(t *testing.T) {
	h := connectHandler{infos: make(chan ConnInfo, 2)}
	_, addr, _ := startBIServer(t, ServerConfig{}, h)
	url := "rtmp://" + addr + "/vod/x"
	for _, tc := range []struct {
		name  string
		props amf.Object
		hevc  bool
	}{
		{"legacy client", nil, false},
		{"fourCcList", amf.Object{{Key: "fourCcList", Value: []any{"av01", "hvc1"}}}, true},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := Dial(ctx, url, ClientConfig{ConnectProps: tc.props})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.Close()
		ci := <-h.infos
		if ci.Connect.String("app") != "vod" || ci.Connect.String("tcUrl") != ci.TcURL {
			t.Errorf("%s: Connect = %v", tc.name, ci.Connect)
		}
		if got := ci.Supports(remux.CodecHEVC); got != tc.hevc {
			t.Errorf("%s: Supports(hvc1) = %v, want %v (Connect %v)", tc.name, got, tc.hevc, ci.Connect)
		}
		if ci.Supports(remux.CodecVP9) {
			t.Errorf("%s: Supports(vp09) without announcing it", tc.name)
		}
	}
}
