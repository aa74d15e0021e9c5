package rtmp

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// tlsHandshakeRecord is the first byte of a TLS ClientHello record: what a
// plain RTMP port reads from an rtmps:// client.
const tlsHandshakeRecord = 0x16

// plainOnTLS turns the TLS error a plain RTMP client causes on an RTMPS
// listener (its C0, 0x03, read as a TLS record header) into one that says
// so; other errors are returned as they are.
func plainOnTLS(err error) error {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.RecordHeader[0] == hsVersion {
		return fmt.Errorf("a plain RTMP (rtmp://) client on the RTMPS port; it must use rtmps:// or the plain port (rtmp.listen): %w", err)
	}
	return err
}
