package hub

import (
	"bytes"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// AMF0 (AMF0 spec, 2.4 string, 2.10 ECMA array, 2.2 number, 2.3 boolean)
// as ffmpeg's FLV muxer writes onMetaData.
const (
	amfName = "\x02\x00\x0aonMetaData"
	// ECMA array of 3: duration 30, width 640, filesize 0.
	withFileKeys = amfName + "\x08\x00\x00\x00\x03" +
		"\x00\x08duration\x00\x40\x3e\x00\x00\x00\x00\x00\x00" +
		"\x00\x05width\x00\x40\x84\x00\x00\x00\x00\x00\x00" +
		"\x00\x08filesize\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x09"
	// The same without them: the array counts 1.
	withoutFileKeys = amfName + "\x08\x00\x00\x00\x01" +
		"\x00\x05width\x00\x40\x84\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x09"
	// An object (2.5) with duration and a boolean stereo.
	objWithDuration = amfName + "\x03" +
		"\x00\x08duration\x00\x40\x3e\x00\x00\x00\x00\x00\x00" +
		"\x00\x06stereo\x01\x01" +
		"\x00\x00\x09"
	objWithout = amfName + "\x03" + "\x00\x06stereo\x01\x01" + "\x00\x00\x09"
)

func TestLiveMetadata(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ecma array", withFileKeys, withoutFileKeys},
		{"object", objWithDuration, objWithout},
		{"nothing to drop", withoutFileKeys, withoutFileKeys},
		{"not AMF", amfName + "\x08\x00\x00", amfName + "\x08\x00\x00"},
		{"no body", amfName, amfName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := msg(remux.KindData, 0, []byte(tc.in))
			liveMetadata(m)
			if string(m.Payload) != tc.want {
				t.Errorf("got  % x\nwant % x", m.Payload, tc.want)
			}
		})
	}
}

// Live players and the recorder get the publisher's metadata without
// duration and filesize, rewritten once: every subscriber shares the
// same bytes.
func TestLiveMetadataSharedByPlayers(t *testing.T) {
	h := New(nil)
	pub, err := h.Publish("live", "cam1", StreamConfig{GOPCache: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	early := h.Subscribe("live", "cam1", StreamConfig{GOPCache: true})
	pub.Write(msg(remux.KindData, 0, []byte(withFileKeys)))
	pub.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	pub.Write(msg(remux.KindVideo, 0, avcKey))
	late := h.Subscribe("live", "cam1", StreamConfig{GOPCache: true})
	var payloads [][]byte
	for _, sub := range []*Subscriber{early, late} {
		for _, m := range drain(t, sub) {
			if m.IsMetadata() {
				payloads = append(payloads, m.Payload)
			}
			m.Release()
		}
	}
	if len(payloads) < 2 {
		t.Fatalf("metadata delivered %d times to 2 subscribers", len(payloads))
	}
	for _, p := range payloads {
		if string(p) != withoutFileKeys {
			t.Errorf("player metadata % x, want duration and filesize gone", p)
		}
		if &p[0] != &payloads[0][0] {
			t.Error("a subscriber got its own copy of the metadata")
		}
	}
	if got := h.Lookup("live", "cam1").Metadata(); !bytes.Equal(got, []byte(withoutFileKeys)) {
		t.Errorf("Stream.Metadata % x", got)
	}
	early.Close()
	late.Close()
	pub.Close()
}

func FuzzLiveMetadata(f *testing.F) {
	for _, s := range []string{withFileKeys, objWithDuration, withoutFileKeys} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := msg(remux.KindData, 0, b)
		liveMetadata(m)
		if len(m.Payload) > len(b) {
			t.Fatalf("grew from %d to %d bytes", len(b), len(m.Payload))
		}
		if bytes.Equal(m.Payload, b) {
			return
		}
		vals, err := amf.DecodeAMF0(m.Payload)
		if err != nil || len(vals) < 2 {
			t.Fatalf("rewrite does not decode: %v", err)
		}
		for _, p := range amf.Props(vals[1]) {
			if isFileKey(p.Key) {
				t.Fatalf("%s kept", p.Key)
			}
		}
	})
}
