package recorder

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
)

// TestRecordFromHub records through a hub.Subscriber, the PollSource the
// appliance hands Record (one goroutine, no pump): every frame lands in the
// segments, the end of the publish ends Record with hub.ErrEnded and every
// message is released; a cancelled context ends it with its segment
// reported and the subscriber closed.
func TestRecordFromHub(t *testing.T) {
	t.Parallel()
	var _ PollSource = (*hub.Subscriber)(nil)
	in := mediaFile(t, "av")
	want := inputCounts(t, in)
	h := hub.New(testLogger(t))
	// The test publishes faster than real time: no lag bound may skip the
	// recorder ahead.
	scfg := hub.StreamConfig{GOPCache: true, MaxLagTime: time.Hour, MaxLagBytes: 1 << 30}
	run := func(ctx context.Context, name string, end func(*hub.Publication)) ([]Segment, *hub.Subscriber, error, []*remux.Message) {
		msgs := messages(readFLV(t, in))
		pub, err := h.Publish("live", name, scfg, "test")
		if err != nil {
			t.Fatal(err)
		}
		sub := h.Subscribe("live", name, scfg)
		sub.SetKind("recorder")
		var mu sync.Mutex
		var segs []Segment
		errc := make(chan error, 1)
		go func() {
			errc <- Record(ctx, sub, "live", name, Config{Dir: t.TempDir(), SegmentDuration: 2 * time.Second,
				Clock: fixedClock(), Logger: testLogger(t), OnSegmentDone: func(s Segment) {
					mu.Lock()
					segs = append(segs, s)
					mu.Unlock()
				}})
		}()
		for _, m := range msgs {
			pub.Write(m.Retain()) // the test keeps its own reference, to check the release
		}
		end(pub)
		err = <-errc
		mu.Lock()
		defer mu.Unlock()
		return segs, sub, err, msgs
	}

	segs, sub, err, msgs := run(context.Background(), "cam1", func(p *hub.Publication) { p.Close() })
	if !errors.Is(err, hub.ErrEnded) {
		t.Fatalf("Record returned %v, want hub.ErrEnded", err)
	}
	sub.Close()
	got := map[string]int{}
	for _, s := range segs {
		for k, v := range checkSegment(t, s.Path, "video", "audio").counts() {
			got[k] += v
		}
	}
	if len(segs) < 3 {
		t.Errorf("%d segments, want >= 3 for 6 s cut every 2 s", len(segs))
	}
	for _, k := range []string{"video", "audio"} {
		if !within(got[k], want[k], 0.02) {
			t.Errorf("%s packets: got %d over all segments, input has %d", k, got[k], want[k])
		}
	}
	for _, m := range msgs {
		m.Release()
	}
	checkReleased(t, msgs)

	ctx, cancel := context.WithCancel(context.Background())
	segs, sub, err, _ = run(ctx, "cam2", func(*hub.Publication) {
		time.Sleep(100 * time.Millisecond)
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Record returned %v after cancel, want context.Canceled", err)
	}
	if !errors.Is(sub.Err(), hub.ErrClosed) {
		t.Errorf("subscriber not closed by a cancelled Record: Err() = %v", sub.Err())
	}
	if len(segs) == 0 {
		t.Error("no segment reported after cancel")
	}
}
