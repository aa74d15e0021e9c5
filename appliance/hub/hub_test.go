package hub

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// Tag bodies as FLV carries them: AVC keyframe/interframe/sequence header and AAC.
var (
	avcSeqHeader = []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f}
	avcKey       = []byte{0x17, 0x01, 0, 0, 0, 'K'}
	avcInter     = []byte{0x27, 0x01, 0, 0, 0, 'I'}
	aacSeqHeader = []byte{0xAF, 0x00, 0x12, 0x10}
	aacFrame     = []byte{0xAF, 0x01, 'A'}
	metadata     = []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
)

func msg(kind remux.Kind, ts uint32, body []byte) *remux.Message {
	return remux.NewMessage(kind, ts, append([]byte(nil), body...))
}

func drain(t *testing.T, sub *Subscriber) []*remux.Message {
	t.Helper()
	done := make(chan []*remux.Message)
	go func() {
		got, _ := sub.Next(nil)
		done <- got
	}()
	select {
	case got := <-done:
		return got
	case <-time.After(2 * time.Second):
		t.Fatal("Next blocked")
		return nil
	}
}

func describe(ms []*remux.Message) string {
	s := ""
	for _, m := range ms {
		switch {
		case m.Kind == remux.KindData:
			s += "M "
		case m.IsSequenceHeader():
			s += fmt.Sprintf("%sH ", m.Kind.String()[:1])
		case m.IsKeyframe():
			s += fmt.Sprintf("K%d ", m.Timestamp)
		case m.Kind == remux.KindVideo:
			s += fmt.Sprintf("v%d ", m.Timestamp)
		case m.Kind == remux.KindAudio:
			s += fmt.Sprintf("a%d ", m.Timestamp)
		default:
			s += m.Kind.String() + " "
		}
		m.Release()
	}
	return s
}

func publishGOPs(p *Publication) {
	p.Write(msg(remux.KindData, 0, metadata))
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindAudio, 0, aacSeqHeader))
	p.Write(msg(remux.KindVideo, 0, avcKey))
	p.Write(msg(remux.KindAudio, 10, aacFrame))
	p.Write(msg(remux.KindVideo, 40, avcInter))
	p.Write(msg(remux.KindVideo, 80, avcKey))
	p.Write(msg(remux.KindAudio, 90, aacFrame))
	p.Write(msg(remux.KindVideo, 120, avcInter))
}

func TestLateJoinerStartsAtLastKeyframe(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	publishGOPs(p)
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	if got, want := describe(drain(t, sub)), "M vH aH K80 a90 v120 "; got != want {
		t.Errorf("late joiner got %q, want %q", got, want)
	}
	p.Write(msg(remux.KindVideo, 160, avcInter))
	if got, want := describe(drain(t, sub)), "v160 "; got != want {
		t.Errorf("live edge got %q, want %q", got, want)
	}
}

func TestNoGOPCacheWaitsForKeyframe(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: false}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	publishGOPs(p)
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	p.Write(msg(remux.KindVideo, 160, avcInter))
	p.Write(msg(remux.KindAudio, 170, aacFrame))
	p.Write(msg(remux.KindVideo, 200, avcKey))
	if got, want := describe(drain(t, sub)), "M vH aH a170 K200 "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSecondPublisherIsBusy(t *testing.T) {
	h := New(nil)
	p, _ := h.Publish("live", "cam1", StreamConfig{}, "a")
	if _, err := h.Publish("live", "cam1", StreamConfig{}, "b"); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("second publish: %v, want ErrStreamBusy", err)
	}
	p.Close()
	p2, err := h.Publish("live", "cam1", StreamConfig{}, "b")
	if err != nil {
		t.Fatalf("publish after close: %v", err)
	}
	p2.Close()
	if h.Lookup("live", "cam1") != nil {
		t.Error("idle stream not removed")
	}
}

func TestSlowSubscriberSkipsToKeyframe(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, MaxLagTime: 500 * time.Millisecond}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindVideo, 0, avcKey))
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	describe(drain(t, sub)) // caught up at ts 0
	// The subscriber stops reading while 2 s of video arrive, keyframe every second.
	for ts := uint32(40); ts <= 2000; ts += 40 {
		if ts%1000 == 0 {
			p.Write(msg(remux.KindVideo, ts, avcKey))
		} else {
			p.Write(msg(remux.KindVideo, ts, avcInter))
		}
	}
	got := drain(t, sub)
	if len(got) == 0 || !got[0].IsKeyframe() || got[0].Timestamp != 2000 {
		t.Errorf("slow subscriber resumed with %q, want the keyframe at 2000", describe(got))
	} else {
		describe(got)
	}
	if sub.Skips() != 1 {
		t.Errorf("skips = %d, want 1", sub.Skips())
	}
}

func TestRepublishWithinGrace(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, RepublishGrace: time.Second}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	publishGOPs(p)
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	describe(drain(t, sub))
	p.Close()
	if got, want := describe(drain(t, sub)), "stream-end "; got != want {
		t.Errorf("after unpublish got %q, want %q", got, want)
	}
	p2, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	publishGOPs(p2)
	if got, want := describe(drain(t, sub)), "stream-start M vH aH K80 a90 v120 "; got != want {
		t.Errorf("after republish got %q, want %q", got, want)
	}
}

// TestRepublishStartsAtKeyframe: a subscriber that stayed through the drop
// follows a new publisher that starts mid-GOP from its first keyframe; the
// headers sent ahead of it and the audio pass.
func TestRepublishStartsAtKeyframe(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, RepublishGrace: time.Second}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	publishGOPs(p)
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	describe(drain(t, sub))
	p.Close()
	describe(drain(t, sub)) // stream-end
	p2, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The subscriber sees the new session before anything is in it.
	if got, want := describe(drain(t, sub)), "stream-start "; got != want {
		t.Fatalf("at republish got %q, want %q", got, want)
	}
	p2.Write(msg(remux.KindData, 0, metadata))
	p2.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p2.Write(msg(remux.KindAudio, 0, aacSeqHeader))
	p2.Write(msg(remux.KindVideo, 40, avcInter))
	p2.Write(msg(remux.KindAudio, 50, aacFrame))
	p2.Write(msg(remux.KindVideo, 80, avcKey))
	p2.Write(msg(remux.KindVideo, 120, avcInter))
	if got, want := describe(drain(t, sub)), "M vH aH a50 K80 v120 "; got != want {
		t.Errorf("new session got %q, want %q", got, want)
	}
}

func TestGraceExpiryEndsSubscriber(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, RepublishGrace: 50 * time.Millisecond}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	publishGOPs(p)
	sub := h.Subscribe("live", "cam1", cfg)
	describe(drain(t, sub))
	p.Close()
	describe(drain(t, sub)) // stream-end
	done := make(chan error)
	go func() { _, err := sub.Next(nil); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrEnded) {
			t.Errorf("Next after grace = %v, want ErrEnded", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("subscriber not ended after grace")
	}
	sub.Close()
	if h.Lookup("live", "cam1") != nil {
		t.Error("stream not removed after last subscriber left")
	}
}

func TestCloseWakesNext(t *testing.T) {
	h := New(nil)
	sub := h.Subscribe("live", "nobody", StreamConfig{})
	done := make(chan error)
	go func() { _, err := sub.Next(nil); done <- err }()
	time.Sleep(10 * time.Millisecond)
	sub.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake Next")
	}
}

// Every reference handed out comes back: no leak, no double release.
func TestReferencesBalance(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	key := msg(remux.KindVideo, 0, avcKey)
	key.Retain() // the test's own reference
	p.Write(key)
	sub := h.Subscribe("live", "cam1", cfg)
	got := drain(t, sub)
	if key.Refs() != 3 { // test + ring + subscriber
		t.Errorf("refs = %d, want 3", key.Refs())
	}
	describe(got)
	sub.Close()
	p.Close()
	if key.Refs() != 1 {
		t.Errorf("refs after teardown = %d, want 1", key.Refs())
	}
}
