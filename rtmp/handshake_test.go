package rtmp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// hsMemRW is an in-memory ReadWriter: reads come from r, writes go to w.
type hsMemRW struct {
	r io.Reader
	w bytes.Buffer
}

func (m *hsMemRW) Read(p []byte) (int, error)  { return m.r.Read(p) }
func (m *hsMemRW) Write(p []byte) (int, error) { return m.w.Write(p) }

// hsTestC1 builds a deterministic C1: time 01 02 03 04, the given version,
// filler byte(i*7), and (if base != 0) a digest imprinted with the FP partial key.
func hsTestC1(version [4]byte, base int) []byte {
	c1 := make([]byte, hsSize)
	for i := range c1 {
		c1[i] = byte(i * 7)
	}
	copy(c1[0:4], []byte{1, 2, 3, 4})
	copy(c1[4:8], version[:])
	if base != 0 {
		hsImprint(c1, base, hsFPKey[:hsFPPartial])
	}
	return c1
}

// hsRunServer feeds C0+C1+C2 to ServerHandshake and returns S0, S1, S2.
func hsRunServer(t *testing.T, c0 byte, c1 []byte) (HandshakeKind, byte, []byte, []byte) {
	t.Helper()
	in := append([]byte{c0}, c1...)
	in = append(in, make([]byte, hsSize)...) // C2 content is not checked
	rw := &hsMemRW{r: bytes.NewReader(in)}
	kind, err := ServerHandshake(rw)
	if err != nil {
		t.Fatalf("ServerHandshake: %v", err)
	}
	out := rw.w.Bytes()
	if len(out) != 1+2*hsSize {
		t.Fatalf("server wrote %d bytes, want %d", len(out), 1+2*hsSize)
	}
	return kind, out[0], out[1 : 1+hsSize], out[1+hsSize:]
}

func hsHMAC(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// hsVerifyDigest independently recomputes the digest at base with key.
func hsVerifyDigest(b []byte, base int, key []byte) bool {
	sum := int(b[base]) + int(b[base+1]) + int(b[base+2]) + int(b[base+3])
	off := sum%728 + base + 4
	data := append(append([]byte{}, b[:off]...), b[off+32:]...)
	return len(data) == 1504 && bytes.Equal(hsHMAC(key, data), b[off:off+32])
}

func TestHandshakeDigestOffset(t *testing.T) {
	b := make([]byte, hsSize)
	copy(b[8:12], []byte{1, 2, 3, 4})
	if got := hsDigestOffset(b, hsBase8); got != 22 {
		t.Errorf("base 8 offset = %d, want 22 (doc example)", got)
	}
	// Base 772: 0xFF*4 = 1020; 1020 % 728 = 292; 292 + 776 = 1068.
	copy(b[772:776], []byte{0xFF, 0xFF, 0xFF, 0xFF})
	if got := hsDigestOffset(b, hsBase772); got != 1068 {
		t.Errorf("base 772 offset = %d, want 1068", got)
	}
	// Largest sum keeps the digest inside its block for both schemes.
	copy(b[8:12], []byte{0xFF, 0xFF, 0xFF, 0xFF})
	if got := hsDigestOffset(b, hsBase8); got != 304 {
		t.Errorf("base 8 offset for FF*4 = %d, want 304", got)
	}
	// Sum 727 gives the last possible position: 727+12 = 739, end 771 <= 772.
	copy(b[8:12], []byte{0xFF, 0xFF, 0xD9, 0x00})
	if got := hsDigestOffset(b, hsBase8); got+32 != 771 {
		t.Errorf("base 8 max digest end = %d, want 771", got+32)
	}
}

func TestHandshakeKeys(t *testing.T) {
	if len(hsFPKey) != 62 || len(hsFMSKey) != 68 {
		t.Fatalf("key lengths %d/%d, want 62/68", len(hsFPKey), len(hsFMSKey))
	}
	if hsFPKey[:hsFPPartial] != "Genuine Adobe Flash Player 001" ||
		hsFMSKey[:hsFMSPartial] != "Genuine Adobe Flash Media Server 001" {
		t.Fatal("partial keys wrong")
	}
	if hsFPKey[30] != 0xF0 || hsFMSKey[67] != 0xAE {
		t.Fatal("key tail wrong")
	}
}

func TestHandshakeServerDigest(t *testing.T) {
	for _, base := range []int{hsBase8, hsBase772} {
		c1 := hsTestC1([4]byte{0x09, 0x00, 0x7C, 0x02}, base)
		if !hsVerifyDigest(c1, base, []byte(hsFPKey[:30])) {
			t.Fatalf("base %d: test C1 digest does not verify", base)
		}
		kind, s0, s1, s2 := hsRunServer(t, 3, c1)
		if kind != HandshakeDigest {
			t.Fatalf("base %d: kind = %v, want digest", base, kind)
		}
		if s0 != 3 {
			t.Errorf("base %d: S0 = %d", base, s0)
		}
		if s1[4] < 3 || s1[4]|s1[5]|s1[6]|s1[7] == 0 {
			t.Errorf("base %d: S1 version % x, want non-zero with first byte >= 3", base, s1[4:8])
		}
		if !hsVerifyDigest(s1, base, []byte(hsFMSKey[:36])) {
			t.Errorf("base %d: S1 digest does not verify with the FMS partial key in the client's scheme", base)
		}
		off := hsDigestOffset(c1, base)
		k := hsHMAC([]byte(hsFMSKey), c1[off:off+32])
		if !bytes.Equal(s2[1504:], hsHMAC(k, s2[:1504])) {
			t.Errorf("base %d: S2 signature wrong", base)
		}
	}
}

func TestHandshakeServerSimple(t *testing.T) {
	c1 := hsTestC1([4]byte{}, 0)
	kind, s0, s1, s2 := hsRunServer(t, 3, c1)
	if kind != HandshakeSimple || s0 != 3 {
		t.Fatalf("kind %v S0 %d, want simple 3", kind, s0)
	}
	if !bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("S1 version % x, want zero", s1[4:8])
	}
	if !bytes.Equal(s2, c1) {
		t.Error("S2 is not an echo of C1")
	}
}

func TestHandshakeServerBadInput(t *testing.T) {
	c1 := hsTestC1([4]byte{}, 0)
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"empty", nil, "reading C0"},
		{"rtmpe", append([]byte{6}, c1...), "RTMPE"},
		{"rtmpe8", append([]byte{8}, c1...), "RTMPE"},
		{"http-get", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP"},
		{"http-post", []byte("POST /x HTTP/1.1\r\n\r\n"), "HTTP"},
		{"version0", append([]byte{0}, c1...), "unsupported RTMP version"},
		{"truncated-c1", append([]byte{3}, c1[:100]...), "reading C1"},
		{"no-c2", append([]byte{3}, c1...), "reading C2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := &hsMemRW{r: bytes.NewReader(tt.in)}
			_, err := ServerHandshake(rw)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "rtmp handshake: ") {
				t.Errorf("err %q lacks context prefix", err)
			}
			if strings.Contains(tt.name, "truncated") && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err %v does not wrap io.ErrUnexpectedEOF", err)
			}
			if tt.want != "reading C2" && rw.w.Len() != 0 {
				t.Errorf("server wrote %d bytes on a rejected handshake", rw.w.Len())
			}
		})
	}
}

func TestHandshakeServerGarbageDigest(t *testing.T) {
	// Non-zero version but no valid digest (also a valid one made with the
	// wrong key): fall back to simple with a zero S1 version.
	wrongKey := hsTestC1([4]byte{0x09, 0x00, 0x7C, 0x02}, 0)
	hsImprint(wrongKey, hsBase8, hsFMSKey[:hsFMSPartial])
	for name, c1 := range map[string][]byte{
		"garbage":   hsTestC1([4]byte{0x0A, 0x00, 0x2D, 0x02}, 0),
		"wrong-key": wrongKey,
	} {
		kind, _, s1, s2 := hsRunServer(t, 3, c1)
		if kind != HandshakeSimple {
			t.Errorf("%s: kind = %v, want simple", name, kind)
		}
		if !bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("%s: S1 version % x, want zero", name, s1[4:8])
		}
		if !bytes.Equal(s2, c1) {
			t.Errorf("%s: S2 is not an echo of C1", name)
		}
	}
}

// hsPipe runs server on one end of a net.Pipe and client on the other.
func hsPipe(t *testing.T, server func(net.Conn) error, client func(net.Conn) error) (serr, cerr error) {
	t.Helper()
	sc, cc := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		err := server(sc)
		sc.Close()
		done <- err
	}()
	cerr = client(cc)
	cc.Close()
	return <-done, cerr
}

func TestHandshakeRoundTrip(t *testing.T) {
	for _, digest := range []bool{false, true} {
		var kind HandshakeKind
		serr, cerr := hsPipe(t,
			func(c net.Conn) (err error) { kind, err = ServerHandshake(c); return err },
			func(c net.Conn) error { return ClientHandshake(c, digest) })
		if serr != nil || cerr != nil {
			t.Fatalf("digest=%v: server err %v, client err %v", digest, serr, cerr)
		}
		want := HandshakeSimple
		if digest {
			want = HandshakeDigest
		}
		if kind != want {
			t.Errorf("digest=%v: kind %v, want %v", digest, kind, want)
		}
	}
}

// hsFakeServer reads C0+C1, answers with S0+S1+S2 from hsServerReply after
// applying tamper, then reads C2 and checks it: echo of S1 for a zero S1
// version, else signed with the FP full key keyed by the S1 digest.
func hsFakeServer(tamper func(s1, s2 []byte)) func(net.Conn) error {
	return func(c net.Conn) error {
		in := make([]byte, 1+hsSize)
		if _, err := io.ReadFull(c, in); err != nil {
			return err
		}
		out := make([]byte, 1+2*hsSize)
		hsServerReply(out, in[1:])
		s1, s2 := out[1:1+hsSize], out[1+hsSize:]
		tamper(s1, s2)
		if _, err := c.Write(out); err != nil {
			return err
		}
		c2 := make([]byte, hsSize)
		if _, err := io.ReadFull(c, c2); err != nil {
			return err
		}
		if s1[4] != 0 { // a digest client answers with a signed C2
			_, off, ok := hsFindDigest(s1, hsFMSKey[:hsFMSPartial])
			if !ok {
				return errors.New("fake server: own S1 digest not found")
			}
			k := hsHMAC([]byte(hsFPKey), s1[off:off+32])
			if !bytes.Equal(c2[1504:], hsHMAC(k, c2[:1504])) {
				return errors.New("fake server: C2 signature wrong")
			}
		} else if !bytes.Equal(c2, s1) {
			return errors.New("fake server: C2 is not an echo of S1")
		}
		return nil
	}
}

func TestHandshakeClient(t *testing.T) {
	tests := []struct {
		name    string
		digest  bool
		tamper  func(s1, s2 []byte)
		wantErr string
	}{
		{"digest-ok", true, func(s1, s2 []byte) {}, ""},
		{"simple-ok", false, func(s1, s2 []byte) {}, ""},
		{"digest-tampered-s2", true, func(s1, s2 []byte) { s2[100] ^= 1 }, "S2 signature mismatch"},
		{"digest-tampered-s2-sig", true, func(s1, s2 []byte) { s2[1535] ^= 1 }, "S2 signature mismatch"},
		{"digest-tampered-s1", true, func(s1, s2 []byte) { s1[1000] ^= 1 }, "no valid FP9 digest"},
		// A server answering simple (zero S1 version) is accepted by a digest client.
		{"digest-client-simple-server", true, func(s1, s2 []byte) {
			for i := range s1[4:8] {
				s1[4+i] = 0
			}
		}, ""},
		// A simple client does not validate S1/S2 at all.
		{"simple-client-ignores-s2", false, func(s1, s2 []byte) { s2[0] ^= 1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serr, cerr := hsPipe(t, hsFakeServer(tt.tamper),
				func(c net.Conn) error { return ClientHandshake(c, tt.digest) })
			if tt.wantErr == "" {
				if cerr != nil || serr != nil {
					t.Fatalf("client err %v, server err %v", cerr, serr)
				}
				return
			}
			if cerr == nil || !strings.Contains(cerr.Error(), tt.wantErr) {
				t.Fatalf("client err = %v, want containing %q", cerr, tt.wantErr)
			}
		})
	}
}

func TestHandshakeClientC1(t *testing.T) {
	for _, digest := range []bool{false, true} {
		rw := &hsMemRW{r: bytes.NewReader(nil)}
		if err := ClientHandshake(rw, digest); err == nil {
			t.Fatal("want error on EOF")
		}
		out := rw.w.Bytes()
		if len(out) != 1+hsSize || out[0] != 3 {
			t.Fatalf("C0+C1 length %d, C0 %d", len(out), out[0])
		}
		c1 := out[1:]
		if !digest {
			if !bytes.Equal(c1[4:8], []byte{0, 0, 0, 0}) {
				t.Errorf("simple C1 version % x", c1[4:8])
			}
			continue
		}
		if !bytes.Equal(c1[4:8], []byte{0x09, 0x00, 0x7C, 0x02}) {
			t.Errorf("digest C1 version % x", c1[4:8])
		}
		if !hsVerifyDigest(c1, hsBase8, []byte(hsFPKey[:30])) {
			t.Error("digest C1: base-8 digest with FP partial key does not verify")
		}
	}
}

func TestHandshakeKindString(t *testing.T) {
	if HandshakeSimple.String() != "simple" || HandshakeDigest.String() != "digest" ||
		HandshakeKind(7).String() != "HandshakeKind(7)" {
		t.Error("String values wrong")
	}
}

func TestHandshakeServerAllocs(t *testing.T) {
	c1 := hsTestC1([4]byte{0x09, 0x00, 0x7C, 0x02}, hsBase8)
	in := append(append([]byte{3}, c1...), make([]byte, hsSize)...)
	rd := bytes.NewReader(in)
	rw := &hsMemRW{r: rd}
	rw.w.Grow(1 + 2*hsSize)
	// Each handshake allocates its ~4.6 KB of buffers plus small HMAC state;
	// bound the count so that accidental per-byte allocation is caught.
	n := testing.AllocsPerRun(20, func() {
		rd.Reset(in)
		rw.w.Reset()
		if _, err := ServerHandshake(rw); err != nil {
			t.Fatal(err)
		}
	})
	if n > 60 {
		t.Errorf("%v allocations per handshake", n)
	}
}
