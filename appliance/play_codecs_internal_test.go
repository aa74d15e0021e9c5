package appliance

import (
	"log/slog"
	"testing"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// A legacy player (no Enhanced RTMP announced) gets neither from Next nor
// from Poll — what a player holding its merge window drains — the HEVC
// frames of a stream that switched to HEVC; its AAC still arrives.
func TestAnnouncedOnlyFiltersNextAndPoll(t *testing.T) {
	h := hub.New(nil)
	cfg := hub.StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Enhanced RTMP (E-RTMP v1): IsExHeader | key frame | CodedFramesX, 'hvc1'.
	hevc := []byte{0x80 | 0x10 | 3, 'h', 'v', 'c', '1', 0x26, 0x01, 0xAF}
	aac := []byte{0xAF, 0x01, 'A'}
	write := func(kind remux.Kind, ts uint32, body []byte) {
		p.Write(remux.NewMessage(kind, ts, append([]byte(nil), body...)))
	}
	sub := h.Subscribe("live", "cam1", cfg)
	legacy := announcedOnly(sub, rtmp.Caps{}, slog.New(slog.DiscardHandler)).(*announcedSub)
	defer legacy.Close()

	write(remux.KindVideo, 0, hevc)
	write(remux.KindAudio, 10, aac)
	got, err := legacy.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(via string, ms []*remux.Message) int {
		audio := 0
		for _, m := range ms {
			if m.Kind == remux.KindVideo {
				t.Errorf("%s handed the legacy player a video message (%v)", via, m.Frame.Codec)
			}
			if m.Kind == remux.KindAudio {
				audio++
			}
			m.Release()
		}
		return audio
	}
	n := check("Next", got)
	write(remux.KindVideo, 40, hevc)
	write(remux.KindAudio, 50, aac)
	n += check("Poll", legacy.Poll(nil))
	if n != 2 {
		t.Errorf("the legacy player got %d AAC frames, want 2", n)
	}
}

// Of multitrack messages a legacy player gets track 0, when it is H.264
// or AAC, as a legacy tag, and nothing of the other tracks; a player that
// announced the codecs gets the messages as published.
func TestAnnouncedOnlyMultitrack(t *testing.T) {
	h := hub.New(nil)
	cfg := hub.StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "mt", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// ManyTracks mp4a: tracks 1 and 0 in one message; OneTrack Opus track 1.
	many := []byte{0x95, 0x11, 'm', 'p', '4', 'a', 1, 0, 0, 1, 'B', 0, 0, 0, 1, 'A'}
	opus := []byte{0x95, 0x01, 'O', 'p', 'u', 's', 1, 0xFC}
	legacy := announcedOnly(h.Subscribe("live", "mt", cfg), rtmp.Caps{}, slog.New(slog.DiscardHandler))
	defer legacy.Close()
	v2 := announcedOnly(h.Subscribe("live", "mt", cfg), rtmp.Caps{Codecs: map[string]uint8{"mp4a": rtmp.CanDecode, "Opus": rtmp.CanDecode}}, slog.New(slog.DiscardHandler))
	defer v2.Close()
	p.Write(remux.NewMessage(remux.KindAudio, 0, append([]byte(nil), many...)))
	p.Write(remux.NewMessage(remux.KindAudio, 0, append([]byte(nil), opus...)))

	got, err := legacy.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Payload) != "\xAF\x01A" {
		t.Errorf("legacy player got %d messages %v; want one legacy AAC tag af 01 41", len(got), got)
	}
	for _, m := range got {
		m.Release()
	}
	got, err = v2.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Payload) != string(many) || string(got[1].Payload) != string(opus) {
		t.Errorf("v2 player got %d messages, want both as published", len(got))
	}
	for _, m := range got {
		m.Release()
	}
}

// Two legacy players of a multitrack stream share one rewrite of each
// message: the bytes copied per message do not grow with them.
func TestAnnouncedOnlyMultitrackSharesRewrite(t *testing.T) {
	h := hub.New(nil)
	cfg := hub.StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "mt", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// ManyTracks mp4a: tracks 1 and 0 in one message.
	many := []byte{0x95, 0x11, 'm', 'p', '4', 'a', 1, 0, 0, 1, 'B', 0, 0, 0, 1, 'A'}
	discard := slog.New(slog.DiscardHandler)
	a := announcedOnly(h.Subscribe("live", "mt", cfg), rtmp.Caps{}, discard)
	defer a.Close()
	b := announcedOnly(h.Subscribe("live", "mt", cfg), rtmp.Caps{}, discard)
	defer b.Close()
	p.Write(remux.NewMessage(remux.KindAudio, 0, append([]byte(nil), many...)))
	ga, err := a.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := b.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ga) != 1 || len(gb) != 1 {
		t.Fatalf("legacy players got %d and %d messages, want 1 each", len(ga), len(gb))
	}
	if ga[0] != gb[0] || string(ga[0].Payload) != "\xAF\x01A" {
		t.Errorf("legacy players got %p %q and %p %q: want one shared legacy AAC tag \"\\xAF\\x01A\"", ga[0], ga[0].Payload, gb[0], gb[0].Payload)
	}
	ga[0].Release()
	gb[0].Release()
}
