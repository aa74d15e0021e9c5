package rtmp

import (
	"testing"
	"time"
)

func TestWritePacerWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name    string
		fixed   time.Duration
		players int64
		cost    time.Duration
		took    time.Duration // how long the write took
		want    time.Duration // pause after it
	}{
		{"one player writes at once", 0, 1, 15 * time.Microsecond, 10 * time.Microsecond, 0},
		{"ten players write at once", 0, 10, 15 * time.Microsecond, 10 * time.Microsecond, 0},
		// 100 × 15 µs / 0.25 = 6 ms window, 1 ms of it spent writing.
		{"hundred players merge", 0, 100, 15 * time.Microsecond, time.Millisecond, 5 * time.Millisecond},
		{"window capped", 0, 1000, 15 * time.Microsecond, 0, autoMaxBatch},
		{"slow write leaves no pause", 0, 100, 15 * time.Microsecond, 6 * time.Millisecond, 0},
		{"fixed window waited in full", 100 * time.Millisecond, 1, 15 * time.Microsecond, 5 * time.Millisecond, 100 * time.Millisecond},
		{"no batching", NoWriteBatch, 1000, 15 * time.Microsecond, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &writePacer{fixed: tc.fixed}
			w.players.Store(tc.players)
			w.costNs.Store(int64(tc.cost))
			if got := w.pause(t0, t0.Add(tc.took)); got != tc.want {
				t.Errorf("pause = %v, want %v (window %v)", got, tc.want, w.window())
			}
		})
	}
}

func TestWritePacerObserveBounds(t *testing.T) {
	var w writePacer
	w.observe(10 * time.Microsecond)
	if got := time.Duration(w.costNs.Load()); got != 10*time.Microsecond {
		t.Fatalf("first sample: cost %v, want 10µs", got)
	}
	// A write that blocked a second on a full socket counts as the bound.
	w.observe(time.Second)
	want := 10*time.Microsecond + (maxWriteCost-10*time.Microsecond)/256
	if got := time.Duration(w.costNs.Load()); got != want {
		t.Fatalf("after a blocked write: cost %v, want %v", got, want)
	}
	// A run of preempted writes moves it little; fast ones bring it down.
	for range 10 {
		w.observe(maxWriteCost)
	}
	if got := time.Duration(w.costNs.Load()); got > 20*time.Microsecond {
		t.Fatalf("after 10 slow writes: cost %v, want under 20µs", got)
	}
	for range 100 {
		w.observe(0)
	}
	if got := time.Duration(w.costNs.Load()); got < minWriteCost || got > minWriteCost+time.Microsecond {
		t.Fatalf("after instant writes: cost %v, want about %v", got, minWriteCost)
	}
}

func TestWritePacerHold(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := &writePacer{}
	w.players.Store(100)
	w.costNs.Store(int64(15 * time.Microsecond)) // 6 ms window
	for _, tc := range []struct {
		name  string
		since time.Duration // since the previous write started
		want  time.Duration
	}{
		{"message soon after a write waits the rest of the window", 2 * time.Millisecond, 4 * time.Millisecond},
		{"message after the window goes at once", 7 * time.Millisecond, 0},
		{"less than minPause left goes at once", 5500 * time.Microsecond, 0},
	} {
		if got := w.hold(t0, t0.Add(tc.since)); got != tc.want {
			t.Errorf("%s: hold = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := w.hold(time.Time{}, t0); got != 0 {
		t.Errorf("first write: hold = %v, want 0", got)
	}
	w.fixed = 50 * time.Millisecond
	if got := w.hold(t0, t0.Add(time.Millisecond)); got != 0 {
		t.Errorf("fixed window: hold = %v, want 0 (it waits after the write)", got)
	}
}
