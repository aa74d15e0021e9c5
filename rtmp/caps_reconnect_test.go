package rtmp

import (
	"context"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// On Shutdown a client that announced capsEx Reconnect gets
// NetConnection.Connect.ReconnectRequest (v2 §7: onStatus on stream 0,
// transaction 0, a null, the info object) before the connection closes; a
// client that did not announce it gets the close alone.
func TestShutdownSendsReconnectRequest(t *testing.T) {
	srv, addr, _ := startBIServer(t, ServerConfig{}, connectHandler{infos: make(chan ConnInfo, 2)})
	dial := func(props amf.Object) *Client {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := Dial(ctx, "rtmp://"+addr+"/live/x", ClientConfig{ConnectProps: props})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	v2 := dial(amf.Object{{Key: "capsEx", Value: 1.0}})
	legacy := dial(nil)
	go srv.Shutdown(context.Background())

	read := func(c *Client) (codes []string) {
		for _, info := range readStatuses(c) {
			codes = append(codes, info.String("code")+"/"+info.String("level")+"/"+info.String("tcUrl"))
		}
		return codes
	}
	// Without ServerConfig.ReconnectURL, the request names the client's own tcUrl.
	if got := read(v2); len(got) != 1 || got[0] != "NetConnection.Connect.ReconnectRequest/status/rtmp://"+addr+"/live" {
		t.Errorf("client with capsEx Reconnect got %v, want one ReconnectRequest to its own tcUrl", got)
	}
	if got := read(legacy); len(got) != 0 {
		t.Errorf("client without capsEx Reconnect got %v", got)
	}
}

// readStatuses reads c until its connection closes (or 5 s) and returns
// the info objects of the onStatus commands on the NetConnection.
func readStatuses(c *Client) (infos []amf.Object) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		vals, err := c.ReadCommand()
		if err != nil {
			return infos
		}
		if len(vals) >= 4 && vals[0] == "onStatus" && vals[1] == 0.0 && vals[2] == nil {
			info, _ := vals[3].(amf.Object)
			infos = append(infos, info)
		}
	}
}

// Kick(true) tells a client that announced capsEx Reconnect to reconnect,
// to its own tcUrl or to ServerConfig.ReconnectURL, and then closes the
// connection; Kick(false), and Kick(true) of a client that did not
// announce it, close it without a word.
func TestKickSendsReconnectRequest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		configured string
		props      amf.Object
		reconnect  bool
		wantTcURL  string // "" = no request; "own" = the client's tcUrl
	}{
		{"reconnect, own tcUrl", "", amf.Object{{Key: "capsEx", Value: 1.0}}, true, "own"},
		{"reconnect, configured tcUrl", "rtmp://other.example:1936/live2", amf.Object{{Key: "capsEx", Value: 3.0}}, true, "rtmp://other.example:1936/live2"},
		{"plain kick", "", amf.Object{{Key: "capsEx", Value: 1.0}}, false, ""},
		{"client without the capability", "", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			infos := make(chan ConnInfo, 1)
			_, addr, _ := startBIServer(t, ServerConfig{ReconnectURL: tc.configured}, connectHandler{infos: infos})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, "rtmp://"+addr+"/live/x", ClientConfig{ConnectProps: tc.props})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ci := <-infos
			if sent := ci.Kick(tc.reconnect); sent != (tc.wantTcURL != "") {
				t.Errorf("Kick(%v) reported sent=%v", tc.reconnect, sent)
			}
			got := readStatuses(c) // returns once the server closed the connection
			want := tc.wantTcURL
			if want == "own" {
				want = "rtmp://" + addr + "/live"
			}
			switch {
			case want == "" && len(got) != 0:
				t.Errorf("got %v, want the connection closed without a status", got)
			case want != "" && (len(got) != 1 || got[0].String("code") != "NetConnection.Connect.ReconnectRequest" ||
				got[0].String("level") != "status" || got[0].String("tcUrl") != want):
				t.Errorf("got %v, want one ReconnectRequest with tcUrl %q", got, want)
			}
		})
	}
}
