package relay

// Enhanced RTMP v2 reconnect requests: the upstream asks the pusher to
// reconnect, possibly to another server (the request's tcUrl).

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

func TestRedirectURL(t *testing.T) {
	const cur = "rtmp://a.example:1935/live/key123?token=t1"
	for _, c := range []struct {
		tcURL, want string
	}{
		{"rtmp://b.example/other", "rtmp://b.example/other/key123?token=t1"},
		{"rtmps://b.example:443/app/inst/", "rtmps://b.example:443/app/inst/key123?token=t1"},
		{"//b.example:1936/other", "rtmp://b.example:1936/other/key123?token=t1"},
		{"/other", "rtmp://a.example:1935/other/key123?token=t1"},
		{"rtmp://b.example/other?auth=x", "rtmp://b.example/other/key123?token=t1&auth=x"},
		{"http://b.example/other", ""},
		{"rtmp://b.example", ""},
		{"rtmp:///other", ""},
		{"rtmp://b.example:bad/other", ""},
	} {
		got, err := redirectURL(cur, c.tcURL)
		if c.want == "" {
			if err == nil {
				t.Errorf("redirectURL(%q) = %q, want an error", c.tcURL, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("redirectURL(%q) = %q, %v; want %q", c.tcURL, got, err, c.want)
		}
	}
	// Without a query on either side.
	if got, err := redirectURL("rtmp://a/live/k", "rtmp://b/x"); err != nil || got != "rtmp://b/x/k" {
		t.Errorf("redirectURL without query = %q, %v", got, err)
	}
}

// ---- a raw upstream that sends a ReconnectRequest ----

// reconnectUpstream is a minimal RTMP server: it accepts connect,
// createStream and publish, counts the video it receives and, on its
// first connection once some video came, sends
// NetConnection.Connect.ReconnectRequest with tcURL (omitted when empty).
type reconnectUpstream struct {
	addr  string
	tcURL string

	mu       sync.Mutex
	conns    int
	publish  []string  // stream names published, in order
	sent     bool      // the request went out
	tcURLsIn []string  // tcUrl of every connect
	capsEx   []float64 // capsEx of every connect
}

func startReconnectUpstream(t testing.TB, tcURL string) *reconnectUpstream {
	t.Helper()
	u := &reconnectUpstream{tcURL: tcURL}
	u.addr = serveTCP(t, func(c net.Conn, n int) {
		u.mu.Lock()
		u.conns++
		u.mu.Unlock()
		u.serve(c, n == 1)
	})
	return u
}

func (u *reconnectUpstream) published() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.publish...)
}

func (u *reconnectUpstream) requestSent() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sent
}

// writeRaw writes one message in chunks of the default size (128) on csid.
func writeRaw(c net.Conn, csid byte, typ uint8, msid uint32, payload []byte) error {
	b := []byte{csid & 0x3f, 0, 0, 0, byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ}
	b = binary.LittleEndian.AppendUint32(b, msid)
	for i := 0; i < len(payload); i += 128 {
		if i > 0 {
			b = append(b, 0xC0|csid&0x3f)
		}
		b = append(b, payload[i:min(i+128, len(payload))]...)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(b)
	return err
}

func writeCmd(c net.Conn, msid uint32, vals ...any) error {
	body, err := amf.AppendAMF0(nil, vals...)
	if err != nil {
		return err
	}
	return writeRaw(c, 3, 20, msid, body)
}

func (u *reconnectUpstream) serve(c net.Conn, first bool) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := rtmp.ServerHandshake(c); err != nil {
		return
	}
	cr := rtmp.NewChunkReader(bufio.NewReader(c), remux.NewPool(), 0, 0)
	defer cr.Close()
	video := 0
	publishing := false
	for {
		m, h, err := cr.ReadMessage()
		if err != nil {
			return
		}
		switch h.Type {
		case 1: // set chunk size
			if len(m.Payload) >= 4 {
				cr.SetChunkSize(binary.BigEndian.Uint32(m.Payload))
			}
		case 9:
			if publishing {
				video++
			}
			if first && video == 20 {
				info := amf.Object{
					{Key: "level", Value: "status"},
					{Key: "code", Value: "NetConnection.Connect.ReconnectRequest"},
					{Key: "description", Value: "go elsewhere"},
				}
				if u.tcURL != "" {
					info = append(info, amf.Object{{Key: "tcUrl", Value: u.tcURL}}...)
				}
				if writeCmd(c, 0, "onStatus", 0.0, nil, info) == nil {
					u.mu.Lock()
					u.sent = true
					u.mu.Unlock()
				}
			}
		case 20:
			vals, err := amf.DecodeAMF0(m.Payload)
			if err != nil || len(vals) < 2 {
				break
			}
			txn, _ := vals[1].(float64)
			switch vals[0] {
			case "connect":
				obj, _ := vals[2].(amf.Object)
				u.mu.Lock()
				u.tcURLsIn = append(u.tcURLsIn, obj.String("tcUrl"))
				caps, _ := obj.Get("capsEx")
				f, _ := caps.(float64)
				u.capsEx = append(u.capsEx, f)
				u.mu.Unlock()
				writeCmd(c, 0, "_result", txn,
					amf.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}},
					amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}})
			case "createStream":
				writeCmd(c, 0, "_result", txn, nil, 1.0)
			case "publish":
				name, _ := vals[3].(string)
				u.mu.Lock()
				u.publish = append(u.publish, name)
				u.mu.Unlock()
				publishing = true
				writeCmd(c, h.StreamID, "onStatus", 0.0, nil,
					amf.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Publish.Start"}})
			}
		}
		m.Release()
	}
}

// TestPushFollowsReconnectRequest: the upstream asks the pusher to
// reconnect to another server and app (an absolute tcUrl); the pusher
// publishes the same stream key there, says so in the log without the
// key, and its status stays live.
func TestPushFollowsReconnectRequest(t *testing.T) {
	opts, logBuf := fastOptions(t)
	h := hub.New(discardLogger())
	second := startUpstream(t)
	first := startReconnectUpstream(t, "rtmp://"+second.addr+"/other")
	m := NewManager(h, opts)
	defer m.Close()
	startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false)
	const key = "key-0123456789abcdef"
	m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + first.addr + "/live/" + key}})

	testenv.Eventually(t, 5*time.Second, "the reconnect request sent", first.requestSent)
	testenv.Eventually(t, 5*time.Second, "video on the second server", func() bool { return second.videoOf(key, 0) >= 30 })
	s := second.named(key)[0]
	if s.ci.App != "other" || !strings.HasSuffix(s.ci.TcURL, second.addr+"/other") {
		t.Errorf("second server got app %q tcUrl %q, want app other", s.ci.App, s.ci.TcURL)
	}
	if got := first.published(); len(got) != 1 {
		t.Errorf("first server saw publishes %q, want one", got)
	}
	first.mu.Lock()
	if len(first.capsEx) == 0 || int(first.capsEx[0])&1 == 0 {
		t.Errorf("connect capsEx %v: the pusher does not announce that it follows reconnect requests", first.capsEx)
	}
	first.mu.Unlock()
	st := statusOf(t, m, "live", "s", "up")
	if st.State != StateLive || st.Retries != 1 {
		t.Errorf("status after the redirect: %+v", st)
	}
	logs := logBuf.String()
	if !strings.Contains(logs, "upstream asked to reconnect elsewhere") || !strings.Contains(logs, second.addr+"/other/") {
		t.Errorf("the redirect is not logged:\n%s", logs)
	}
	if strings.Contains(logs, "0123456789abcdef") || strings.Contains(fmt.Sprintf("%+v", st), "0123456789abcdef") {
		t.Errorf("the key shows in the log or the status:\n%s", logs)
	}
	checkTimeline(t, second.named(key))
}

// TestPushReconnectRequestFallsBack: the server the upstream redirects to
// refuses connections; the retry after that goes to the configured URL.
func TestPushReconnectRequestFallsBack(t *testing.T) {
	opts, logBuf := fastOptions(t)
	h := hub.New(discardLogger())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	first := startReconnectUpstream(t, "//"+closed+"/other?auth=tok-secret-987")
	m := NewManager(h, opts)
	defer m.Close()
	startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false)
	m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + first.addr + "/live/{stream}"}})

	testenv.Eventually(t, 5*time.Second, "the reconnect request sent", first.requestSent)
	testenv.Eventually(t, 5*time.Second, "the publish back on the configured server", func() bool { return len(first.published()) >= 2 })
	testenv.Eventually(t, 5*time.Second, "the push live again", func() bool { return statusOf(t, m, "live", "s", "up").State == StateLive })
	logs := logBuf.String()
	if !strings.Contains(logs, "redirected to failed") || !strings.Contains(logs, closed+"/other/") {
		t.Errorf("the failed redirect is not logged:\n%s", logs)
	}
	if strings.Contains(logs, "tok-secret-987") {
		t.Errorf("the tcUrl's token shows in the log:\n%s", logs)
	}
}

// TestPushReconnectRequestSameServer: without a tcUrl (or with one that is
// not rtmp), the pusher reconnects to the server it was on.
func TestPushReconnectRequestSameServer(t *testing.T) {
	for _, tc := range []string{"", "http://elsewhere.example/live"} {
		t.Run(fmt.Sprintf("tcUrl=%q", tc), func(t *testing.T) {
			opts, logBuf := fastOptions(t)
			h := hub.New(discardLogger())
			first := startReconnectUpstream(t, tc)
			m := NewManager(h, opts)
			defer m.Close()
			startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false)
			m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + first.addr + "/live/{stream}"}})
			testenv.Eventually(t, 5*time.Second, "the reconnect request sent", first.requestSent)
			testenv.Eventually(t, 5*time.Second, "the publish again on the same server", func() bool { return len(first.published()) >= 2 })
			if tc != "" && !strings.Contains(logBuf.String(), "ignoring the tcUrl") {
				t.Errorf("the ignored tcUrl is not logged:\n%s", logBuf.String())
			}
		})
	}
}
