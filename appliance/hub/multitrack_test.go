package hub

import (
	"bytes"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// Enhanced RTMP v2 multitrack audio as gortmplib and OBS send it: track 0
// in the legacy form, track 1 as Multitrack/OneTrack (enhanced-rtmp.md §5).
var (
	opusT1SeqStart  = []byte{0x95, 0x00, 'O', 'p', 'u', 's', 1, 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd'}
	opusT1SeqStart2 = []byte{0x95, 0x00, 'O', 'p', 'u', 's', 1, 'O', 'p', 'u', 's', 'H', 'e', 'a', 'D'}
	aacT2SeqStart   = []byte{0x95, 0x00, 'm', 'p', '4', 'a', 2, 0x12, 0x10}
	opusT1Frame     = []byte{0x95, 0x01, 'O', 'p', 'u', 's', 1, 0xFC}
)

// A late joiner gets the sequence header of every track, not only track
// 0's: a v2 player cannot set up a track whose configuration it never saw.
// A repeated header of a track replaces its previous one.
func TestLateJoinerGetsEveryTrackHeader(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "mt", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write(msg(remux.KindAudio, 0, opusT1SeqStart))
	publishGOPs(p)
	p.Write(msg(remux.KindAudio, 0, aacT2SeqStart))
	p.Write(msg(remux.KindAudio, 130, opusT1Frame))
	p.Write(msg(remux.KindAudio, 140, opusT1SeqStart2))

	sub := h.Subscribe("live", "mt", cfg)
	defer sub.Close()
	got := drain(t, sub)
	var hdrs [][]byte
	for _, m := range got {
		if m.IsSequenceHeader() {
			hdrs = append(hdrs, m.Payload)
		}
	}
	want := [][]byte{avcSeqHeader, aacSeqHeader, opusT1SeqStart2, aacT2SeqStart}
	if len(hdrs) < len(want) {
		t.Fatalf("headers % x, want % x first", hdrs, want)
	}
	for i, w := range want {
		if !bytes.Equal(hdrs[i], w) {
			t.Errorf("header %d: % x, want % x", i, hdrs[i], w)
		}
	}
	if d := describe(got); d != "M vH aH aH aH K80 a90 v120 aH a130 aH " {
		t.Errorf("late joiner got %q", d)
	}
}

// A late joiner starts at a keyframe of video track 0; a video track > 0
// (Multitrack/OneTrack avc1) starts at its own next keyframe, not mid-GOP.
func TestLateJoinerStartsEachVideoTrackAtItsKeyframe(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "mtv", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// [0x80|frameType<<4|6] [OneTrack<<4|CodedFrames] "avc1" [track 1] [cts] [NALU]
	t1 := func(frameType byte) []byte {
		return []byte{0x80 | frameType<<4 | 6, 0x01, 'a', 'v', 'c', '1', 1, 0, 0, 0, 0, 0, 0, 1, 'X'}
	}
	publishGOPs(p) // track 0: K0 .. K80 a90 v120
	p.Write(msg(remux.KindVideo, 121, t1(2)))
	p.Write(msg(remux.KindVideo, 140, t1(1)))
	p.Write(msg(remux.KindVideo, 160, t1(2)))
	sub := h.Subscribe("live", "mtv", cfg)
	defer sub.Close()
	got := drain(t, sub)
	var track1 []uint32
	for _, m := range got {
		if m.Kind == remux.KindVideo && m.Frame.Track == 1 {
			track1 = append(track1, m.Timestamp)
		}
	}
	if d := describe(got); d != "M vH aH K80 a90 v120 K140 v160 " || len(track1) != 2 || track1[0] != 140 {
		t.Errorf("late joiner got %q, track 1 at %v; want track 1 from its keyframe at 140", d, track1)
	}
}
