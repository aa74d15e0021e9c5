package relay

import (
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

func TestTargetMatches(t *testing.T) {
	for _, tc := range []struct {
		streams []string
		name    string
		want    bool
	}{
		{nil, "anything", true},
		{[]string{"cam1"}, "cam1", true},
		{[]string{"cam1"}, "cam10", false},
		{[]string{"cam*"}, "cam10", true},
		{[]string{"cam?"}, "cam10", false},
		{[]string{"cam?"}, "cam2", true},
		{[]string{"a", "[xy]*"}, "yes", true},
		{[]string{"a", "[xy]*"}, "no", false},
		{[]string{"*"}, "sub/dir", false}, // globs do not cross '/'
		{[]string{"sub/*"}, "sub/dir", true},
	} {
		if got := (Target{Streams: tc.streams}).Matches(tc.name); got != tc.want {
			t.Errorf("Streams %q Matches(%q) = %v, want %v", tc.streams, tc.name, got, tc.want)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	good := []Target{
		{URL: "rtmp://host/live/{stream}"},
		{URL: "rtmps://host:443/app/key", Streams: []string{"cam*"}},
		{URL: "rtmp://host/{app}/{stream}"},
	}
	for _, tg := range good {
		if err := tg.Validate(); err != nil {
			t.Errorf("%+v: %v", tg, err)
		}
	}
	bad := []Target{
		{URL: "http://host/live/x"},
		{URL: "rtmp://host/onlyapp"},
		{URL: "rtmp://host/live/x", Streams: []string{"[unclosed"}},
	}
	for _, tg := range bad {
		if err := tg.Validate(); err == nil {
			t.Errorf("%+v: no error", tg)
		}
	}
	// The error does not show the key.
	err := Target{URL: "http://host/live/verysecretstreamkey"}.Validate()
	if err == nil || strings.Contains(err.Error(), "verysecretstreamkey") {
		t.Errorf("Validate error leaks the key: %v", err)
	}
}

func TestNormalizeNames(t *testing.T) {
	got := normalize([]Target{
		{URL: "rtmp://a.example/live/k1"},
		{URL: "rtmp://a.example/live/k2"},
		{Name: "yt", URL: "rtmp://b.example/live/k"},
		{Name: "yt", URL: "rtmp://c.example/live/k"},
		{URL: "rtmp://d.example:1936/live/k"},
	})
	want := []string{"a.example", "a.example-2", "yt", "yt-2", "d.example:1936"}
	for i, tg := range got {
		if tg.Name != want[i] {
			t.Errorf("target %d named %q, want %q", i, tg.Name, want[i])
		}
	}
	if ExpandURL("rtmp://h/{app}/{stream}", "live", "cam1") != "rtmp://h/live/cam1" {
		t.Error("ExpandURL")
	}
}

func msg(kind remux.Kind, ts uint32, payload ...byte) *remux.Message {
	return remux.NewMessage(kind, ts, payload)
}

var (
	vHdr   = []byte{0x17, 0, 0, 0, 0, 1, 2, 3}
	vKey   = []byte{0x17, 1, 0, 0, 0, 9, 9}
	vInter = []byte{0x27, 1, 0, 0, 0, 8}
	aHdr   = []byte{0xAF, 0, 0x12, 0x10}
	aFrame = []byte{0xAF, 1, 7, 7}
)

// TestTimestampsAcrossReconnect feeds a tsMap what a pusher sends: a
// session, a reconnect that resends the GOP (older timestamps), a
// publisher restart at 0, and checks the upstream sees a monotonic,
// continuous timeline that keeps the spacing of the frames.
func TestTimestampsAcrossReconnect(t *testing.T) {
	var tm tsMap
	var out []uint32
	var kinds []remux.Kind
	send := func(m *remux.Message) uint32 {
		ts := tm.out(m)
		out = append(out, ts)
		kinds = append(kinds, m.Kind)
		return ts
	}
	// First connection joins a stream at 10 s: it starts at 0.
	send(msg(remux.KindData, 0, 2, 0, 10))
	send(msg(remux.KindVideo, 0, vHdr...))
	send(msg(remux.KindAudio, 0, aHdr...))
	if ts := send(msg(remux.KindVideo, 10000, vKey...)); ts != 0 {
		t.Fatalf("first keyframe at %d, want 0", ts)
	}
	send(msg(remux.KindAudio, 9990, aFrame...)) // audio a bit behind video
	send(msg(remux.KindVideo, 10040, vInter...))
	send(msg(remux.KindAudio, 10013, aFrame...))
	last := send(msg(remux.KindVideo, 10080, vInter...))
	if last != 80 {
		t.Fatalf("spacing lost: %d, want 80", last)
	}
	// Reconnect: headers again, then the GOP from the keyframe at 10000.
	tm.rebase()
	send(msg(remux.KindData, 0, 2, 0, 10))
	send(msg(remux.KindVideo, 0, vHdr...))
	k := send(msg(remux.KindVideo, 10000, vKey...))
	if k != last+rebaseGap {
		t.Fatalf("keyframe after reconnect at %d, want %d", k, last+rebaseGap)
	}
	if v := send(msg(remux.KindVideo, 10040, vInter...)); v != k+40 {
		t.Fatalf("spacing after reconnect: %d, want %d", v, k+40)
	}
	// Publisher restarts: its timeline starts at 0 again.
	tm.rebase()
	send(msg(remux.KindVideo, 0, vHdr...))
	k2 := send(msg(remux.KindVideo, 0, vKey...))
	send(msg(remux.KindVideo, 40, vInter...))
	if k2 <= k+40 {
		t.Fatalf("timeline went back after the publisher restart: %d after %d", k2, k+40)
	}
	// Every kind is monotonic on its own.
	lastBy := map[remux.Kind]uint32{}
	for i, ts := range out {
		if ts < lastBy[kinds[i]] {
			t.Fatalf("message %d (%v) at %d after %d: %v", i, kinds[i], ts, lastBy[kinds[i]], out)
		}
		lastBy[kinds[i]] = ts
	}
}

// The interpretation of fourCcList and the info maps is rtmp.SupportsCodec's
// (tested there); a connection looks at both objects of the connect reply.
func TestSupportsCodec(t *testing.T) {
	props := amf.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}}
	info := amf.Object{{Key: "code", Value: "NetConnection.Connect.Success"}, {Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: 4.0}}}}
	if uc := (&upConn{props: props, info: info}); !uc.supports(remux.CodecHEVC) || uc.supports(remux.CodecAV1) {
		t.Error("info object of the connect reply not looked at")
	}
	if uc := (&upConn{props: amf.Object{{Key: "fourCcList", Value: []any{"av01"}}}}); !uc.supports(remux.CodecAV1) || uc.supports(remux.CodecHEVC) {
		t.Error("properties object of the connect reply not looked at")
	}
	list := fourCcList([]remux.FourCC{remux.CodecHEVC, remux.CodecOpus})
	if len(list) != 4 || list[3] != "Opus" {
		t.Errorf("fourCcList = %v", list)
	}
}

func TestLagSkip(t *testing.T) {
	batch := []*remux.Message{
		msg(remux.KindVideo, 0, vKey...), msg(remux.KindVideo, 40, vInter...),
		msg(remux.KindVideo, 80, vKey...), msg(remux.KindAudio, 80, aFrame...),
	}
	if i := lagSkip(batch, 1<<20); i != 0 {
		t.Errorf("small batch skipped to %d", i)
	}
	if i := lagSkip(batch, 4); i != 2 {
		t.Errorf("big batch skipped to %d, want 2", i)
	}
	if keepOnSkip(batch[1]) || !keepOnSkip(msg(remux.KindVideo, 0, vHdr...)) || !keepOnSkip(msg(remux.KindData, 0, 2)) {
		t.Error("keepOnSkip")
	}
}
