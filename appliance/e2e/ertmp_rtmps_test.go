//go:build linux

package e2e

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestE2ERTMPSIngest: ffmpeg publishes to rtmps:// on rtmp.tls.listen
// (a test CA's certificate), ffprobe and gortmplib (verifying the
// certificate) play it over rtmps://; a plain RTMP client on the RTMPS
// port and an RTMPS client on the plain port each get one log line that
// says what happened, and their connection is closed at once.
func TestE2ERTMPSIngest(t *testing.T) {
	bin := tapedeckBinary(t)
	pool, _, certFile, keyFile := testenv.MakeCerts(t, t.TempDir())
	tlsAddr := testenv.FreeAddr(t)
	p := hardStart(t, bin, strings.Replace(ertmpConfig, "  listen: \"{rtmp}\"\n", "  listen: \"{rtmp}\"\n  tls:\n"+
		"    listen: \""+tlsAddr+"\"\n    cert_file: \""+certFile+"\"\n    key_file: \""+keyFile+"\"\n", 1))
	hardWaitLog(t, p, "rtmps listening", 5*time.Second)
	url := "rtmps://" + tlsAddr + "/live/cam"
	hardStartTool(t, "ffmpeg", hardPublisherArgs(url, 12)...)
	hardWaitPublishing(t, p, "live/cam", nil)

	probe := startProbe(t, url, 3)
	gort := make(chan *gortReceived, 1)
	go func() {
		gort <- gortRead(url, 3*time.Second, func(c *gortmplib.Client) { c.TLSConfig = &tls.Config{RootCAs: pool} })
	}()
	res := parseProbe(t, probe)
	if v := res.entries("frame", "video"); len(v) < 50 || !v[0].key {
		t.Errorf("ffprobe over rtmps: %d video frames (first key %v), want 50+ from a keyframe", len(v), len(v) > 0 && v[0].key)
	}
	if a := res.entries("frame", "audio"); len(a) < 80 {
		t.Errorf("ffprobe over rtmps: %d audio frames, want 80+", len(a))
	}
	g := <-gort
	if g.err != nil {
		t.Fatal(g.err)
	}
	t.Logf("gortmplib over rtmps: %d video, %d audio frames", len(g.video), len(g.audio))
	if len(g.video) < 40 || len(g.audio) < 80 {
		t.Errorf("gortmplib over rtmps: %d video and %d audio frames in 3 s", len(g.video), len(g.audio))
	}

	for _, tc := range []struct {
		name, addr, log string
		dial            func(addr string) (net.Conn, error)
	}{
		{"plain RTMP on the RTMPS port", tlsAddr, "a plain RTMP (rtmp://) client on the RTMPS port",
			func(a string) (net.Conn, error) { return net.DialTimeout("tcp", a, 5*time.Second) }},
		{"RTMPS on the plain port", p.rtmpAddr, "an RTMPS (rtmps://) client on the plain RTMP port",
			func(a string) (net.Conn, error) {
				return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			}},
	} {
		before := strings.Count(p.logs.String(), tc.log)
		start := time.Now()
		nc, err := tc.dial(tc.addr)
		if err == nil {
			err = hardHandshake(nc)
			nc.Close()
		}
		if err == nil {
			t.Errorf("%s: the handshake succeeded", tc.name)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refused after %v, want at once", tc.name, d)
		}
		hardWaitLog(t, p, tc.log, 5*time.Second)
		time.Sleep(200 * time.Millisecond)
		if n := strings.Count(p.logs.String(), tc.log) - before; n != 1 {
			t.Errorf("%s: %d log lines, want 1", tc.name, n)
		}
		t.Logf("%s: %v; log: %s", tc.name, err, strings.TrimSpace(grepLines(p.logs.String(), tc.log)))
	}
	// Both cost one connection each, given back: the publish goes on, and
	// a new player still gets in.
	code, body := hardRequest(t, "GET", "http://"+p.httpAddr+"/api/v1/streams/live/cam", nil, "")
	if code != 200 || !strings.Contains(body, `"publishing": true`) {
		t.Errorf("after the wrong-port clients: %d %s", code, body)
	}
}
