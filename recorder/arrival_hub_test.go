package recorder

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
)

// Through a real hub: a recorder that starts a second after the stream's
// keyframe reached the hub (it gets the GOP cache) dates its first segment
// by that keyframe's arrival, not by when it got to it.
func TestSegmentDatedByHubArrival(t *testing.T) {
	t.Parallel()
	msgs := messages(readFLV(t, mediaFile(t, "av")))
	h := hub.New(testLogger(t))
	scfg := hub.StreamConfig{GOPCache: true, MaxLagTime: time.Hour, MaxLagBytes: 1 << 30}
	pub, err := h.Publish("live", "late", scfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The headers and the first GOP (the clip's keyframes are 1 s apart),
	// then a second with nothing.
	published := time.Now()
	i := 0
	for ; i < len(msgs) && msgs[i].Timestamp < 900; i++ {
		pub.Write(msgs[i])
	}
	time.Sleep(time.Second)
	sub := h.Subscribe("live", "late", scfg)
	var mu sync.Mutex
	var segs []Segment
	errc := make(chan error, 1)
	recording := time.Now()
	go func() {
		errc <- Record(context.Background(), sub, "live", "late", Config{Dir: t.TempDir(), SegmentDuration: 2 * time.Second,
			Clock: NewSystemClock(), Logger: testLogger(t), OnSegmentDone: func(s Segment) {
				mu.Lock()
				segs = append(segs, s)
				mu.Unlock()
			}})
	}()
	for ; i < len(msgs); i++ {
		pub.Write(msgs[i])
	}
	pub.Close()
	<-errc
	sub.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	first := segs[0]
	for _, s := range segs[1:] {
		if s.Start.Before(first.Start) {
			first = s
		}
	}
	if first.Start.Before(published.Add(-50*time.Millisecond)) || first.Start.After(published.Add(100*time.Millisecond)) {
		t.Errorf("first segment starts %v after the keyframe was published, want within 100 ms (the recorder started %v after)",
			first.Start.Sub(published), recording.Sub(published))
	}
}
