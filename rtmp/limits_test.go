package rtmp

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// limTDialFrom dials addr from the loopback address local (127.0.0.0/8
// is all loopback on Linux), so one test can be several clients.
func limTDialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// A client that finished the handshake must send connect, and then
// publish or play, within the command timeout; pings, window acks and
// chunk sizes do not buy it time, nor do they keep a silent publisher.
func TestCommandTimeoutIgnoresControlMessages(t *testing.T) {
	const cmdTimeout, idle = 400 * time.Millisecond, 1200 * time.Millisecond
	_, addr, logs := startBIServer(t, ServerConfig{
		HandshakeTimeout: 2 * time.Second,
		CommandTimeout:   cmdTimeout,
		IdleTimeout:      idle,
	}, newBIHandler())
	// chatter sends control messages every 50ms until the server closes.
	chatter := func(r *biRaw) {
		go func() {
			for i := 0; ; i++ {
				var err error
				switch i % 3 {
				case 0:
					_, err = r.nc.Write(r.w.appendMessage(nil, csidControl, Header{Type: typeWindowAckSize}, be32(2_500_000)))
				case 1:
					_, err = r.nc.Write(r.w.appendMessage(nil, csidControl, Header{Type: typeSetChunkSize}, be32(128)))
				case 2:
					_, err = r.nc.Write(r.w.appendMessage(nil, csidControl, Header{Type: typeUserControl}, []byte{0, byte(ucPingRequest), 0, 0, 0, 1}))
				}
				if err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	check := func(name, log string, window time.Duration, setup func(r *biRaw)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newBIRaw(t, addr)
			setup(r)
			start := time.Now()
			chatter(r)
			d := expectClosed(t, r.nc, start, window+time.Second)
			if d > window*3/2 {
				t.Errorf("closed after %v, want about %v", d, window)
			}
			if !strings.Contains(logs.String(), log) {
				t.Errorf("server log lacks %q", log)
			}
		})
	}
	check("no connect", "no connect within 400ms", cmdTimeout, func(*biRaw) {})
	check("no publish after connect", "no publish or play within 400ms", cmdTimeout, func(r *biRaw) { r.connect() })
	check("publisher without media", "idle for 1.2s", idle, func(r *biRaw) {
		r.connect()
		r.command("createStream", 2.0, nil)
		id, _ := argAt(r.result(2), 3).(float64)
		body, _ := amf.AppendAMF0(nil, "publish", 3.0, nil, "cam", "live")
		biWrite(t, r.nc, r.w.appendMessage(nil, csidCommand, Header{Type: typeCommandAMF0, StreamID: uint32(id)}, body))
	})
}

// One address gets max_connections_per_ip slots; another address still
// gets in, and the refusals make one log line, not one per connection.
func TestMaxConnectionsPerIP(t *testing.T) {
	srv, addr, logs := startBIServer(t, ServerConfig{
		HandshakeTimeout:    2 * time.Second,
		IdleTimeout:         5 * time.Second,
		MaxConnections:      10,
		MaxConnectionsPerIP: 3,
	}, newBIHandler())
	for range 3 {
		biHandshake(t, limTDialFrom(t, "127.0.0.2", addr))
	}
	for range 5 {
		expectClosed(t, limTDialFrom(t, "127.0.0.2", addr), time.Now(), biPrompt)
	}
	other := limTDialFrom(t, "127.0.0.3", addr)
	biHandshake(t, other)
	if n := srv.Connections(); n != 4 {
		t.Errorf("%d connections open, want 3 from 127.0.0.2 and 1 from 127.0.0.3", n)
	}
	if n := srv.Stats().Refused; n != 5 {
		t.Errorf("refused counter %d, want 5", n)
	}
	if n := strings.Count(logs.String(), "rtmp connections refused"); n != 1 {
		t.Errorf("%d refusal log lines for 5 refusals from one address, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "addr=127.0.0.2/32 reason=max_connections_per_ip limit=3 refused=1") {
		t.Errorf("the refusal line does not name the address and the limit:\n%s", logs.String())
	}
}

// IPv6 clients count by /64: one host holds a whole /64.
func TestClientKeyGroupsIPv6By64(t *testing.T) {
	a := clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1")})
	b := clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9")})
	c := clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1")})
	if a != b || a == c || a.String() != "2001:db8:1:2::/64" {
		t.Errorf("keys %v %v %v", a, b, c)
	}
	if k := clientKey(&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3")}); k.String() != "10.1.2.3/32" {
		t.Errorf("mapped IPv4 key %v", k)
	}
}

// Names a client sends go into logs and refusals cut short.
func TestLogName(t *testing.T) {
	if got := logName("cam1"); got != "cam1" {
		t.Errorf("logName(cam1) = %q", got)
	}
	long := strings.Repeat("é", 5000)
	got := logName(long)
	if len(got) > logNameMax+20 || !strings.HasSuffix(got, "…(10000 bytes)") || !utf8.ValidString(got) {
		t.Errorf("logName of 10000 bytes = %q", got)
	}
}

// One line per address per interval, whatever the flood; a flood from
// more addresses than are remembered shares one line.
func TestRefusalLogBounded(t *testing.T) {
	logs := &syncBuffer{}
	r := newRefusalLog(slog.New(slog.NewTextHandler(logs, nil)), time.Hour)
	a := netip.MustParsePrefix("10.0.0.1/32")
	for range 1000 {
		r.refused(a, "max_connections_per_ip", 3)
	}
	for i := range refusalLogAddrs + 500 {
		r.refused(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32), "max_connections", 2000)
	}
	if len(r.seen) > refusalLogAddrs {
		t.Errorf("%d addresses remembered, the bound is %d", len(r.seen), refusalLogAddrs)
	}
	lines := strings.Count(logs.String(), "rtmp connections refused")
	if lines != refusalLogAddrs || strings.Count(logs.String(), `addr="other addresses"`) != 1 {
		t.Errorf("%d lines for 1 + %d addresses (bound %d), want one per remembered address and one for the rest", lines, refusalLogAddrs+500, refusalLogAddrs)
	}
}

// A connection that played for longer than idle_timeout and stopped gets
// the whole idle_timeout from the stop, not a deadline long past.
func TestIdleStartsWhenPlayStops(t *testing.T) {
	const idle = 800 * time.Millisecond
	_, addr, _ := startBIServer(t, ServerConfig{HandshakeTimeout: 2 * time.Second, CommandTimeout: idle, IdleTimeout: idle}, newBIHandler())
	r := newBIRaw(t, addr)
	r.connect()
	r.command("createStream", 2.0, nil)
	id, _ := argAt(r.result(2), 3).(float64)
	send := func(vals ...any) {
		body, _ := amf.AppendAMF0(nil, vals...)
		biWrite(t, r.nc, r.w.appendMessage(nil, csidCommand, Header{Type: typeCommandAMF0, StreamID: uint32(id)}, body))
	}
	send("play", 3.0, nil, "cam")
	// Playing: no read deadline, however long the player stays silent.
	r.nc.SetReadDeadline(time.Now().Add(2 * idle))
	buf := make([]byte, 4096)
	for {
		if _, err := r.nc.Read(buf); err != nil {
			if !isTimeout(err) {
				t.Fatalf("a silent player was dropped: %v", err)
			}
			break
		}
	}
	send("closeStream", 4.0, nil)
	start := time.Now()
	d := expectClosed(t, r.nc, start, idle+time.Second)
	if d < idle*3/4 {
		t.Errorf("closed %v after the play stopped, before the idle timeout of %v", d, idle)
	}
}
