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
