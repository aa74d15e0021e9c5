//go:build linux

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestE2EReconnectRequestOnSIGTERM: tapedeck, sent SIGTERM, tells a
// publisher that announced capsEx Reconnect (another tapedeck's push,
// which does) NetConnection.Connect.ReconnectRequest before it closes the
// connection; the pusher follows it and publishes again to the restarted
// server.
func TestE2EReconnectRequestOnSIGTERM(t *testing.T) {
	bin := tapedeckBinary(t)
	up := hardStart(t, bin, ertmpConfig)
	edge := hardStart(t, bin, strings.Replace(ertmpConfig, "    record:\n", "    push:\n      - name: up\n        url: rtmp://"+up.rtmpAddr+"/live/{stream}\n    record:\n", 1))
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+edge.rtmpAddr+"/live/cam", 40)...)
	hardWaitPublishing(t, up, "live/cam", nil)

	up.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-up.done:
	case <-time.After(10 * time.Second):
		t.Fatal("tapedeck did not exit on SIGTERM")
	}
	if !strings.Contains(up.logs.String(), "rtmp reconnect request sent") {
		t.Errorf("no ReconnectRequest sent on SIGTERM:\n%s", testenv.Tail(up.logs.String(), 20))
	}
	hardWaitLog(t, edge, "upstream asked to reconnect", 5*time.Second)

	// The same config, so the same port: the restarted server.
	logs := &testenv.SyncBuf{}
	tail := func() string { return testenv.Tail(logs.String(), 40) }
	again := startBinary(t, bin, up.cfgPath, logs, 10*time.Second, tail)
	again.waitReady(t, apiAnswers("http://"+up.httpAddr), 15*time.Second, "API answering", tail)
	up2 := *up
	up2.binProc, up2.logs = again, logs
	hardWaitPublishing(t, &up2, "live/cam", nil)
	t.Logf("edge: %s", strings.TrimSpace(grepLines(edge.logs.String(), "reconnect")))
}
