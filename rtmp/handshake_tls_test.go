package rtmp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A TLS ClientHello on the plain port and a plain C0 on a TLS listener are
// each refused at the first byte, with an error that says which it was.
func TestHandshakeWrongPort(t *testing.T) {
	// rtmps:// client on the plain port: the TLS record type 0x16 as C0.
	_, err := ServerHandshake(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("\x16\x03\x01\x02\x00\x01"), io.Discard})
	if err == nil || !strings.Contains(err.Error(), "RTMPS (rtmps://) client on the plain RTMP port") {
		t.Errorf("TLS on the plain port: %v", err)
	}

	// rtmp:// client on a TLS listener: Go's TLS server reads its C0 (3)
	// and C1 as a record header.
	c, s := net.Pipe()
	defer c.Close()
	go func() {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(append([]byte{3}, make([]byte, 1536)...))
		io.Copy(io.Discard, c)
	}()
	srv := tls.Server(s, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate needed")
	}})
	srv.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = ServerHandshake(srv)
	var rh tls.RecordHeaderError
	if err == nil || !strings.Contains(err.Error(), "plain RTMP (rtmp://) client on the RTMPS port") || !errors.As(err, &rh) {
		t.Errorf("plain RTMP on a TLS listener: %v", err)
	}
	srv.Close()

	// Other errors are left alone.
	if err := plainOnTLS(io.EOF); err != io.EOF {
		t.Errorf("plainOnTLS(EOF) = %v", err)
	}
}
