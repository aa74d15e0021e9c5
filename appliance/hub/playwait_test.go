package hub

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

func TestWaitPublisher(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}

	// Nobody publishes: the wait ends after d, without a publisher.
	sub := h.Subscribe("live", "none", cfg)
	start := time.Now()
	if sub.WaitPublisher(50*time.Millisecond, nil) {
		t.Error("WaitPublisher reported a publisher on a stream nobody publishes")
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > time.Second {
		t.Errorf("waited %v, want 50ms", el)
	}
	sub.Close()

	// A publisher arriving ends the wait at once, and Next then gets
	// the stream: the wake-up WaitPublisher took is not lost.
	sub = h.Subscribe("live", "cam1", cfg)
	done := make(chan bool)
	go func() { done <- sub.WaitPublisher(10*time.Second, nil) }()
	time.Sleep(20 * time.Millisecond)
	pub, err := h.Publish("live", "cam1", cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Error("WaitPublisher did not see the publisher")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WaitPublisher did not end when the publisher came")
	}
	pub.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	pub.Write(msg(remux.KindVideo, 0, avcKey))
	if got := describe(drain(t, sub)); got != "vH K0 " {
		t.Errorf("after the wait, Next = %q", got)
	}

	// Already published: no wait.
	other := h.Subscribe("live", "cam1", cfg)
	if !other.WaitPublisher(time.Hour, nil) {
		t.Error("WaitPublisher on a published stream")
	}

	// stop and Close end it.
	idle := h.Subscribe("live", "idle", cfg)
	stop := make(chan struct{})
	go func() { time.Sleep(20 * time.Millisecond); close(stop) }()
	if idle.WaitPublisher(10*time.Second, stop) {
		t.Error("stopped wait reported a publisher")
	}
	go func() { time.Sleep(20 * time.Millisecond); idle.Close() }()
	start = time.Now()
	if idle.WaitPublisher(10*time.Second, nil) || time.Since(start) > 5*time.Second {
		t.Error("Close did not end the wait")
	}
	other.Close()
	sub.Close()
	pub.Close()
}
