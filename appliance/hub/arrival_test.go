package hub

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// Every message is stamped with its arrival in the hub, so that a
// subscriber running behind (the recorder) can date what it makes of it.
func TestMessagesStampedOnArrival(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	before := time.Now()
	p.Write(msg(remux.KindVideo, 0, avcKey))
	time.Sleep(20 * time.Millisecond)
	p.Write(msg(remux.KindAudio, 20, aacFrame))
	after := time.Now()
	got := drain(t, sub)
	if len(got) != 2 {
		t.Fatalf("got %s", describe(got))
	}
	for _, m := range got {
		if m.Arrived.Before(before) || m.Arrived.After(after) {
			t.Errorf("%s arrived %v, want within [%v, %v]", describe([]*remux.Message{m}), m.Arrived, before, after)
		}
	}
	if d := got[1].Arrived.Sub(got[0].Arrived); d < 20*time.Millisecond {
		t.Errorf("second message stamped %v after the first, want at least 20 ms", d)
	}
}
