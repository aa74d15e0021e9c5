package rtmp

import (
	"bytes"
	"testing"
)

func FuzzServerHandshake(f *testing.F) {
	c2 := make([]byte, hsSize)
	for _, c1 := range [][]byte{
		hsTestC1([4]byte{}, 0),
		hsTestC1([4]byte{0x09, 0x00, 0x7C, 0x02}, hsBase8),
		hsTestC1([4]byte{0x09, 0x00, 0x7C, 0x02}, hsBase772),
		hsTestC1([4]byte{0x0A, 0x00, 0x2D, 0x02}, 0),
	} {
		f.Add(append(append([]byte{3}, c1...), c2...))
		f.Add(append([]byte{3}, c1[:700]...))
	}
	f.Add([]byte{6})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		rw := &hsMemRW{r: bytes.NewReader(data)}
		kind, err := ServerHandshake(rw)
		out := rw.w.Bytes()
		if err != nil {
			if len(out) != 0 && len(out) != 1+2*hsSize {
				t.Fatalf("partial reply of %d bytes", len(out))
			}
			return
		}
		if len(data) < 1+2*hsSize {
			t.Fatalf("success on %d input bytes", len(data))
		}
		if len(out) != 1+2*hsSize || out[0] != 3 {
			t.Fatalf("reply %d bytes, S0 %d", len(out), out[0])
		}
		c1, s1, s2 := data[1:1+hsSize], out[1:1+hsSize], out[1+hsSize:]
		switch kind {
		case HandshakeSimple:
			if !bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) || !bytes.Equal(s2, c1) {
				t.Fatal("simple reply: non-zero S1 version or S2 != C1")
			}
		case HandshakeDigest:
			base, off, ok := hsFindDigest(c1, hsFPKey[:hsFPPartial])
			if !ok {
				t.Fatal("digest reply to a C1 without a valid digest")
			}
			sBase, _, ok := hsFindDigest(s1, hsFMSKey[:hsFMSPartial])
			if !ok || sBase != base || s1[4] < 3 {
				t.Fatalf("S1 digest: ok=%v base %d (client %d) version %d", ok, sBase, base, s1[4])
			}
			if !bytes.Equal(s2[hsSigned:], hsSignature(s2[:hsSigned], hsFMSKey, c1[off:off+hsDigestLen])) {
				t.Fatal("S2 signature wrong")
			}
		default:
			t.Fatalf("kind %v", kind)
		}
	})
}
