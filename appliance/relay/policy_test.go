package relay

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

func TestPolicyCheck(t *testing.T) {
	def := &Policy{Schemes: []string{"rtmp", "rtmps"}, Hosts: []string{PublicHosts}}
	lan := &Policy{Schemes: []string{"rtmps"}, Hosts: []string{PublicHosts, "192.168.1.0/24", "nginx.lan", "10.9.9.9"}}
	for _, c := range []struct {
		p    *Policy
		url  string
		want string // "" allowed
	}{
		{def, "rtmp://a.rtmp.youtube.com/live2/key", ""},
		{def, "rtmps://8.8.8.8/app/key", ""},
		{def, "rtmp://127.0.0.1:8080/live/x", "127.0.0.1 is loopback"},
		{def, "rtmp://[::1]:1935/live/x", "::1 is loopback"},
		{def, "rtmp://10.1.2.3/live/x", "10.1.2.3 is private"},
		{def, "rtmp://169.254.169.254/live/x", "169.254.169.254 is link-local"},
		{def, "rtmp://100.64.1.1/live/x", "100.64.1.1 is a special-purpose address"},
		{def, "rtmp://[::ffff:127.0.0.1]/live/x", "127.0.0.1 is loopback"},
		{def, "rtmp://0.0.0.0/live/x", "0.0.0.0 is unspecified"},
		{lan, "rtmp://a.rtmp.youtube.com/live2/key", `scheme "rtmp" is not one of [rtmps]`},
		{lan, "rtmps://192.168.1.20/live/x", ""},
		{lan, "rtmps://10.9.9.9/live/x", ""},
		{lan, "rtmps://10.9.9.8/live/x", "10.9.9.8 is private"},
		{lan, "rtmps://NGINX.lan/live/x", ""},
	} {
		err := c.p.Check(c.url)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrTargetRefused)):
			t.Errorf("%s: %v, want a refusal with %q", c.url, err, c.want)
		}
	}
}

// A name is checked where it resolves to: "localhost" is a name, and
// the dial to 127.0.0.1 is refused.
func TestPolicyChecksTheDialledAddress(t *testing.T) {
	addr := serveTCP(t, func(net.Conn, int) {}) // each connection closed at once
	_, port, _ := net.SplitHostPort(addr)
	u := "rtmp://localhost:" + port + "/live/x"
	p := &Policy{Schemes: []string{"rtmp"}, Hosts: []string{PublicHosts}}
	if err := p.Check(u); err != nil {
		t.Fatalf("the URL check refuses a name before it is resolved: %v", err)
	}
	ctl, err := p.dialControl(u)
	if err != nil || ctl == nil {
		t.Fatalf("dialControl: nil=%v, %v", ctl == nil, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, err = rtmp.Dial(ctx, u, rtmp.ClientConfig{Timeout: 2 * time.Second, Control: ctl})
	if !errors.Is(err, ErrTargetRefused) || !strings.Contains(describeDialFailure(err), "is loopback and not listed") {
		t.Fatalf("dial of localhost under the policy: %v", err)
	}
}

// A port that answers something other than RTMP is reported as such,
// without the byte it answered (a web server's "H" is version 72).
func TestDialFailureDoesNotEchoThePeer(t *testing.T) {
	addr := serveTCP(t, func(c net.Conn, _ int) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/x", rtmp.ClientConfig{Timeout: 2 * time.Second})
	if err == nil {
		t.Fatal("an HTTP server completed an RTMP dial")
	}
	got := describeDialFailure(err)
	if strings.Contains(got, "72") || strings.Contains(got, "version") || got != "connect: the server did not answer with an RTMP handshake" {
		t.Errorf("status %q for an HTTP port (error %v)", got, err)
	}
}
