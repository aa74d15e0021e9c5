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
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			vals, err := c.ReadCommand()
			if err != nil {
				return codes
			}
			if len(vals) >= 4 && vals[0] == "onStatus" && vals[1] == 0.0 && vals[2] == nil {
				info, _ := vals[3].(amf.Object)
				codes = append(codes, info.String("code")+"/"+info.String("level"))
			}
		}
	}
	if got := read(v2); len(got) != 1 || got[0] != "NetConnection.Connect.ReconnectRequest/status" {
		t.Errorf("client with capsEx Reconnect got %v, want one ReconnectRequest", got)
	}
	if got := read(legacy); len(got) != 0 {
		t.Errorf("client without capsEx Reconnect got %v", got)
	}
}
