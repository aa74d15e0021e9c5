package hub

import (
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// publishFrames writes video at 25 fps from ts, a keyframe every 25
// frames (one per second), each body padded to size bytes.
func publishFrames(p *Publication, from, n int, size int) {
	for i := from; i < from+n; i++ {
		body := make([]byte, size)
		copy(body, avcInter)
		if i%25 == 0 {
			copy(body, avcKey)
		}
		p.Write(msg(remux.KindVideo, uint32(i*40), body))
	}
}

// A subscriber that keeps up leaves the ring holding the GOP cache only,
// not the lag window (5 s by default) behind it.
func TestRingHoldsGOPWhenSubscribersKeepUp(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	for sec := 0; sec < 4; sec++ {
		for i := 0; i < 25; i += 5 {
			publishFrames(p, sec*25+i, 5, 10<<10)
			describe(drain(t, sub))
		}
	}
	s := h.Lookup("live", "cam1")
	s.mu.Lock()
	held, gop := s.head-s.tail, s.head-s.lastKey
	s.mu.Unlock()
	if held > gop {
		t.Errorf("ring holds %d messages with the subscriber caught up, want the %d of the GOP", held, gop)
	}
	if sub.Skips() != 0 {
		t.Errorf("caught-up subscriber skipped %d times", sub.Skips())
	}
}

// A subscriber behind, but inside the lag bounds, still gets every message:
// what it has yet to read is kept.
func TestRingKeepsWhatASubscriberHasYetToRead(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	fast := h.Subscribe("live", "cam1", cfg)
	defer fast.Close()
	slow := h.Subscribe("live", "cam1", cfg)
	defer slow.Close()
	describe(drain(t, slow)) // the sequence header
	for i := 0; i < 75; i += 5 {
		publishFrames(p, i, 5, 10<<10)
		describe(drain(t, fast))
	}
	got := drain(t, slow)
	n := 0
	for _, m := range got {
		if m.Kind == remux.KindVideo && !m.IsSequenceHeader() {
			n++
		}
	}
	describe(got)
	if n != 75 || slow.Skips() != 0 {
		t.Errorf("subscriber 3 s behind got %d of 75 frames with %d skips, want all and none", n, slow.Skips())
	}
}

// Poll hands over what is there without blocking, and nothing when there
// is nothing new: a player holding a message must not get stuck in it.
func TestPollDoesNotBlock(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindVideo, 0, avcKey))
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	if got := describe(sub.Poll(nil)); got != "vH K0 " {
		t.Errorf("first Poll = %q, want the header and the keyframe", got)
	}
	if got := sub.Poll(nil); len(got) != 0 {
		t.Errorf("Poll with nothing new = %q, want nothing", describe(got))
	}
	p.Write(msg(remux.KindVideo, 40, avcInter))
	if got := describe(sub.Poll(nil)); got != "v40 " {
		t.Errorf("Poll after a frame = %q, want it", got)
	}
	sub.Close()
	if got := sub.Poll(nil); len(got) != 0 {
		t.Errorf("Poll after Close = %q, want nothing", describe(got))
	}
}
