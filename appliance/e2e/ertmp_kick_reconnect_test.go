//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// kickStatuses publishes name on box with our client announcing (or not)
// capsEx Reconnect, kicks it through the API with query, and returns the
// onStatus info objects the client read on its NetConnection until the
// connection closed. The API's answer must say whether a ReconnectRequest
// was sent: wantRequested.
func kickStatuses(t *testing.T, box *hardProc, name string, capsEx bool, query string, wantRequested bool) []amf.Object {
	t.Helper()
	var props amf.Object
	if capsEx {
		props = amf.Object{{Key: "capsEx", Value: 1.0}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, stream, err := rtmp.Dial(ctx, "rtmp://"+box.rtmpAddr+"/live/"+name, rtmp.ClientConfig{Timeout: 5 * time.Second, ConnectProps: props})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, stream); err != nil {
		t.Fatal(err)
	}
	hardWaitPublishing(t, box, "live/"+name, nil)
	code, body := hardRequest(t, "POST", "http://"+box.httpAddr+"/api/v1/streams/live/"+name+"/kick"+query, nil, "")
	if code != 200 {
		t.Fatalf("kick%s: %d %s", query, code, body)
	}
	var answer struct {
		Result             string `json:"result"`
		ReconnectRequested *bool  `json:"reconnect_requested"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || answer.Result != "kicked" ||
		answer.ReconnectRequested == nil || *answer.ReconnectRequested != wantRequested {
		t.Errorf("kick%s of %s: answer %s (%v), want result kicked and reconnect_requested %v", query, name, body, err, wantRequested)
	}
	var infos []amf.Object
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		vals, err := c.ReadCommand()
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Errorf("kick%s: the connection is still open after 5 s", query)
			}
			return infos
		}
		if len(vals) >= 4 && vals[0] == "onStatus" && vals[1] == 0.0 && vals[2] == nil {
			info, _ := vals[3].(amf.Object)
			infos = append(infos, info)
		}
	}
}

// TestE2EKickReconnect: POST .../kick?reconnect=1 tells a publisher that
// announced capsEx Reconnect NetConnection.Connect.ReconnectRequest before
// the connection closes — with its own tcUrl, or with rtmp.reconnect_url
// where it is set — and a plain kick (or a publisher without the
// capability) gets the close alone. Another tapedeck's push (a client
// that follows the request) moves to the configured server and publishes
// there. gortmplib v1.0.1 does not handle ReconnectRequest, so our client
// is the witness.
func TestE2EKickReconnect(t *testing.T) {
	bin := tapedeckBinary(t)
	home := hardStart(t, bin, ertmpConfig)
	moving := hardStart(t, bin, strings.Replace(ertmpConfig, "rtmp:\n", "rtmp:\n  reconnect_url: rtmp://"+home.rtmpAddr+"/live\n", 1))
	edge := hardStart(t, bin, strings.Replace(ertmpConfig, "    record:\n", "    push:\n      - name: up\n        url: rtmp://"+moving.rtmpAddr+"/live/{stream}\n    record:\n", 1))
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+edge.rtmpAddr+"/live/cam", 30)...)

	reconnectTo := func(infos []amf.Object) string {
		if len(infos) == 1 && infos[0].String("code") == "NetConnection.Connect.ReconnectRequest" && infos[0].String("level") == "status" {
			return infos[0].String("tcUrl")
		}
		return "?"
	}
	if got := kickStatuses(t, home, "own", true, "?reconnect=1", true); reconnectTo(got) != "rtmp://"+home.rtmpAddr+"/live" {
		t.Errorf("kick?reconnect=1 without rtmp.reconnect_url: got %v, want one ReconnectRequest with tcUrl rtmp://%s/live", got, home.rtmpAddr)
	}
	if got := kickStatuses(t, moving, "conf", true, "?reconnect=1", true); reconnectTo(got) != "rtmp://"+home.rtmpAddr+"/live" {
		t.Errorf("kick?reconnect=1 with rtmp.reconnect_url: got %v, want one ReconnectRequest with tcUrl rtmp://%s/live", got, home.rtmpAddr)
	}
	if got := kickStatuses(t, home, "plain", true, "", false); len(got) != 0 {
		t.Errorf("plain kick: got %v, want the close alone", got)
	}
	if got := kickStatuses(t, home, "legacy", false, "?reconnect=1", false); len(got) != 0 {
		t.Errorf("kick?reconnect=1 of a publisher without capsEx Reconnect: got %v, want the close alone", got)
	}
	if code, body := hardRequest(t, "POST", "http://"+home.httpAddr+"/api/v1/streams/live/x/kick?reconnect=maybe", nil, ""); code != 400 {
		t.Errorf("kick?reconnect=maybe: %d %s, want 400", code, body)
	}

	// The edge's push follows the request to the configured server.
	hardWaitPublishing(t, moving, "live/cam", nil)
	if code, body := hardRequest(t, "POST", "http://"+moving.httpAddr+"/api/v1/streams/live/cam/kick?reconnect=1", nil, ""); code != 200 {
		t.Fatalf("kick?reconnect=1 of the edge's push: %d %s", code, body)
	}
	hardWaitLog(t, edge, "upstream asked to reconnect elsewhere", 5*time.Second)
	hardWaitPublishing(t, home, "live/cam", nil)
	if !strings.Contains(moving.logs.String(), "rtmp reconnect request sent") {
		t.Errorf("no reconnect request logged:\n%s", testenv.Tail(moving.logs.String(), 20))
	}
	t.Logf("edge: %s", strings.TrimSpace(grepLines(edge.logs.String(), "reconnect")))
}
