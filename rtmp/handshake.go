package rtmp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Handshake sizes.
const (
	hsVersion   = 3    // C0/S0 for plain RTMP
	hsSize      = 1536 // C1, S1, C2, S2
	hsDigestLen = sha256.Size
	hsSigned    = hsSize - hsDigestLen // bytes covered by the C2/S2 signature
)

// Flash Player 9 handshake keys. The "partial" keys are the ASCII prefixes
// (hsFPPartial, hsFMSPartial bytes); the "full" keys append hsKeyTail.
const (
	hsKeyTail = "\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57" +
		"\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE"
	hsFPKey      = "Genuine Adobe Flash Player 001" + hsKeyTail       // 62 bytes
	hsFMSKey     = "Genuine Adobe Flash Media Server 001" + hsKeyTail // 68 bytes
	hsFPPartial  = 30
	hsFMSPartial = 36
)

// Digest schemes, named by the offset of the 764-byte block holding the digest.
const (
	hsBase8   = 8   // digest block at 8, key block at 772 (ffmpeg/librtmp plain C1)
	hsBase772 = 772 // key block at 8, digest block at 772 (RTMPE C1)
)

// Version bytes put in a digest S1 (nginx-rtmp uses the same); first byte must be >= 3.
var hsServerVersion = [4]byte{0x0D, 0x0E, 0x0A, 0x0D}

// Version bytes put in a digest C1: Flash Player 9.0.124.2, as ffmpeg sends.
var hsClientVersion = [4]byte{0x09, 0x00, 0x7C, 0x02}

// HandshakeKind reports which handshake variant was performed.
type HandshakeKind int

const (
	// HandshakeSimple is the plain handshake of the RTMP specification (S2 echoes C1).
	HandshakeSimple HandshakeKind = iota
	// HandshakeDigest is the Flash Player 9 "complex" handshake with HMAC-SHA256 digests.
	HandshakeDigest
)

// String returns "simple" or "digest".
func (k HandshakeKind) String() string {
	switch k {
	case HandshakeSimple:
		return "simple"
	case HandshakeDigest:
		return "digest"
	}
	return "HandshakeKind(" + strconv.Itoa(int(k)) + ")"
}

// ServerHandshake performs the server side on rw: reads C0+C1, writes S0+S1+S2 in one write, reads C2.
// If C1 carries a valid FP9 digest (either scheme), S1 carries a server digest (FMS partial key, same
// scheme as the client) and S2 is keyed by the client's digest; otherwise a simple handshake with a
// zero version in S1 and S2 = echo of C1. C0 other than 3 → error (RTMPE 6/8/9 unsupported: say so;
// a first byte that looks like ASCII e.g. 'G','P' → error mentioning HTTP). The caller sets deadlines.
// Returns which kind was done.
func ServerHandshake(rw io.ReadWriter) (HandshakeKind, error) {
	// C0 is read on its own so that a non-RTMP peer (e.g. an HTTP client,
	// which sends far fewer than 1536 bytes and then waits) is rejected at once.
	var c0 [1]byte
	if _, err := io.ReadFull(rw, c0[:]); err != nil {
		return HandshakeSimple, fmt.Errorf("rtmp handshake: reading C0: %w", plainOnTLS(err))
	}
	if err := hsCheckVersion(c0[0]); err != nil {
		return HandshakeSimple, err
	}
	c1 := make([]byte, hsSize)
	if _, err := io.ReadFull(rw, c1); err != nil {
		return HandshakeSimple, fmt.Errorf("rtmp handshake: reading C1: %w", err)
	}
	out := make([]byte, 1+2*hsSize)
	kind := hsServerReply(out, c1)
	if _, err := rw.Write(out); err != nil {
		return kind, fmt.Errorf("rtmp handshake: writing S0+S1+S2: %w", err)
	}
	// C2 is not validated: nginx-rtmp and SRS do not either, and simple-mode
	// clients fill it inconsistently. C1 is no longer needed, so reuse it.
	if _, err := io.ReadFull(rw, c1); err != nil {
		return kind, fmt.Errorf("rtmp handshake: reading C2: %w", err)
	}
	return kind, nil
}

// hsCheckVersion validates C0.
func hsCheckVersion(v byte) error {
	switch {
	case v == hsVersion:
		return nil
	case v == 6 || v == 8 || v == 9:
		return fmt.Errorf("rtmp handshake: client requested RTMPE (encrypted RTMP, version %d), which is not supported", v)
	case v == tlsHandshakeRecord:
		return errors.New("rtmp handshake: first byte 0x16 is a TLS handshake: an RTMPS (rtmps://) client on the plain RTMP port; it must connect to the RTMPS port (rtmp.tls.listen)")
	case v >= 0x20 && v < 0x7F:
		return fmt.Errorf("rtmp handshake: first byte %#02x (%q) is not an RTMP version; peer looks like an HTTP or other text client", v, rune(v))
	}
	return fmt.Errorf("rtmp handshake: unsupported RTMP version %d (want %d)", v, hsVersion)
}

// hsServerReply fills out (1+2*hsSize bytes) with S0+S1+S2 answering c1.
func hsServerReply(out, c1 []byte) HandshakeKind {
	out[0] = hsVersion
	s1 := out[1 : 1+hsSize]
	s2 := out[1+hsSize:]
	hsFill(s1[8:]) // s1[0:8]: zero time, zero version unless digest below

	if c1[4]|c1[5]|c1[6]|c1[7] != 0 {
		if base, off, ok := hsFindDigest(c1, hsFPKey[:hsFPPartial]); ok {
			copy(s1[4:8], hsServerVersion[:])
			hsImprint(s1, base, hsFMSKey[:hsFMSPartial]) // mirror the client's scheme
			hsFill(s2[:hsSigned])
			hsSign(s2, hsFMSKey, c1[off:off+hsDigestLen])
			return HandshakeDigest
		}
		// No valid digest: answer as simple, with a zero version in S1 so
		// that ffmpeg and rtmpdump do not try to validate S1/S2.
	}
	copy(s2, c1)
	return HandshakeSimple
}

// ClientHandshake performs the client side. digest=true sends an FP9 C1 (version 9.0.124.2, base-8 digest with
// the FP partial key, like ffmpeg) and, when S1 announces a version (S1[4] != 0), verifies the S1 digest and S2
// (error on mismatch), then sends C2 computed from the S1 digest; digest=false sends a simple C1 and C2=echo of S1.
func ClientHandshake(rw io.ReadWriter, digest bool) error {
	buf := make([]byte, 1+hsSize)
	buf[0] = hsVersion
	c1 := buf[1:]
	hsFill(c1[8:]) // zero time; zero version unless digest
	if digest {
		copy(c1[4:8], hsClientVersion[:])
		hsImprint(c1, hsBase8, hsFPKey[:hsFPPartial])
	}
	if _, err := rw.Write(buf); err != nil {
		return fmt.Errorf("rtmp handshake: writing C0+C1: %w", err)
	}

	// Read S0+S1+S2 before sending C2 (ffmpeg's order): this also works on
	// unbuffered transports such as net.Pipe, where the server's single
	// S0+S1+S2 write would otherwise block against our C2 write.
	in := make([]byte, 1+2*hsSize)
	if _, err := io.ReadFull(rw, in[:1]); err != nil {
		return fmt.Errorf("rtmp handshake: reading S0: %w", err)
	}
	if in[0] != hsVersion {
		return fmt.Errorf("rtmp handshake: server answered version %d (want %d)", in[0], hsVersion)
	}
	if _, err := io.ReadFull(rw, in[1:1+hsSize]); err != nil {
		return fmt.Errorf("rtmp handshake: reading S1: %w", err)
	}
	if _, err := io.ReadFull(rw, in[1+hsSize:]); err != nil {
		return fmt.Errorf("rtmp handshake: reading S2: %w", err)
	}
	s1, s2 := in[1:1+hsSize], in[1+hsSize:]

	c2 := c1 // C1 was sent; reuse its buffer
	if !digest || s1[4] == 0 {
		copy(c2, s1)
	} else {
		_, soff, ok := hsFindDigest(s1, hsFMSKey[:hsFMSPartial])
		if !ok {
			return errors.New("rtmp handshake: S1 announces a version but carries no valid FP9 digest")
		}
		// S2 must be signed with a key derived from our own C1 digest.
		coff := hsDigestOffset(c1, hsBase8)
		want := hsSignature(s2[:hsSigned], hsFMSKey, c1[coff:coff+hsDigestLen])
		if !hmac.Equal(want, s2[hsSigned:]) {
			return errors.New("rtmp handshake: S2 signature mismatch (server failed FP9 digest validation)")
		}
		sd := s1[soff : soff+hsDigestLen]
		hsFill(c2[:hsSigned])
		hsSign(c2, hsFPKey, sd)
	}
	if _, err := rw.Write(c2); err != nil {
		return fmt.Errorf("rtmp handshake: writing C2: %w", err)
	}
	return nil
}

// hsFindDigest looks for a digest made with key in the 1536-byte packet b,
// trying base 772 and then base 8 (the nginx-rtmp and ffmpeg order), and
// returns the scheme and offset where it was found.
func hsFindDigest(b []byte, key string) (base, off int, ok bool) {
	for _, base := range [...]int{hsBase772, hsBase8} {
		off := hsDigestOffset(b, base)
		if hmac.Equal(hsDigest(b, off, key), b[off:off+hsDigestLen]) {
			return base, off, true
		}
	}
	return 0, 0, false
}

// hsDigestOffset returns where the 32-byte digest of the 1536-byte packet b
// sits in the scheme whose digest block starts at base (hsBase8 or hsBase772):
// the sum of the block's first 4 bytes mod 728, plus base+4. The digest always
// stays inside its 764-byte block.
func hsDigestOffset(b []byte, base int) int {
	sum := int(b[base]) + int(b[base+1]) + int(b[base+2]) + int(b[base+3])
	return sum%728 + base + 4
}

// hsDigest returns HMAC-SHA256(key, b without the 32 bytes at off).
func hsDigest(b []byte, off int, key string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write(b[:off])
	h.Write(b[off+hsDigestLen:])
	return h.Sum(nil)
}

// hsImprint writes the digest of b with key at b's digest offset for base.
func hsImprint(b []byte, base int, key string) {
	off := hsDigestOffset(b, base)
	copy(b[off:], hsDigest(b, off, key))
}

// hsSignature returns HMAC(HMAC(key, peerDigest), data), the C2/S2 signature.
func hsSignature(data []byte, key string, peerDigest []byte) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write(peerDigest)
	h = hmac.New(sha256.New, h.Sum(nil))
	h.Write(data)
	return h.Sum(nil)
}

// hsSign puts the C2/S2 signature of b[:hsSigned] into b's last 32 bytes.
func hsSign(b []byte, key string, peerDigest []byte) {
	copy(b[hsSigned:], hsSignature(b[:hsSigned], key, peerDigest))
}

// hsFill fills b with random bytes (crypto/rand.Read never fails).
func hsFill(b []byte) {
	rand.Read(b)
}
