package pull

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
)

// feedUpstream publishes a synthetic H.264 stream (one keyframe a second,
// 25 fps) into h as app/name until ctx is done.
func feedUpstream(ctx context.Context, t *testing.T, h *hub.Hub, app, name string) {
	t.Helper()
	pub, err := h.Publish(app, name, hub.StreamConfig{GOPCache: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer pub.Close()
		pub.Write(remux.NewMessage(remux.KindVideo, 0, []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}))
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			body := []byte{0x27, 0x01, 0, 0, 0, 'I'}
			if i%25 == 0 {
				body = []byte{0x17, 0x01, 0, 0, 0, 'K'}
			}
			pub.Write(remux.NewMessage(remux.KindVideo, i*40, body))
		}
	}()
}

// upstreamPlayers counts the RTMP players the pulling side holds open on
// the upstream server.
func upstreamPlayers(h *hub.Hub) int {
	if s := h.Lookup("src", "cam"); s != nil {
		return s.Stats().Players
	}
	return 0
}

func TestOnDemandPullFollowsPlayers(t *testing.T) {
	upstream := hub.New(slog.New(slog.DiscardHandler))
	addr := serveRTMP(t, upstream)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedUpstream(ctx, t, upstream, "src", "cam")

	h := hub.New(slog.New(slog.DiscardHandler))
	m := NewManager(h, Options{Logger: slog.New(slog.DiscardHandler), MinBackoff: 100 * time.Millisecond, Timeout: 2 * time.Second, IdleAfter: 600 * time.Millisecond})
	defer m.Close()
	if err := m.Start("live", "cam", Source{URL: "rtmp://" + addr + "/src/cam", OnDemand: true}); err != nil {
		t.Fatal(err)
	}
	if m.Demand("live", "other") {
		t.Error("Demand of a stream that is not pulled reported true")
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				st, _ := m.Lookup("live", "cam")
				t.Fatalf("%s: not within %v (pull %+v, upstream players %d)", what, within, st, upstreamPlayers(upstream))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	state := func(want string) func() bool {
		return func() bool { st, _ := m.Lookup("live", "cam"); return st.State == want }
	}

	// Nobody watches: nothing is pulled.
	time.Sleep(300 * time.Millisecond)
	if st, _ := m.Lookup("live", "cam"); st.State != StateIdle || !st.OnDemand || st.Messages != 0 {
		t.Fatalf("before any player: %+v", st)
	}
	if n := upstreamPlayers(upstream); n != 0 {
		t.Fatalf("upstream has %d players before anyone watched", n)
	}

	for round := range 2 { // the second round proves idle → pulling again
		sub := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
		if !m.Demand("live", "cam") {
			t.Fatal("Demand of the pulled stream reported false")
		}
		got := collect(t, sub, 1500*time.Millisecond)
		var video int
		for _, s := range got {
			if s.kind == remux.KindVideo {
				video++
			}
		}
		if video < 10 {
			t.Fatalf("round %d: player got %d video messages", round, video)
		}
		if st, _ := m.Lookup("live", "cam"); st.State != StatePulling {
			t.Fatalf("round %d: with a player: %+v", round, st)
		}
		// A recorder is not a player: it does not keep the pull alive.
		rec := h.Subscribe("live", "cam", hub.StreamConfig{GOPCache: true})
		rec.SetKind("recorder")
		sub.Close()
		left := time.Now()
		waitFor("idle after the last player left", 3*time.Second, state(StateIdle))
		// Players are sampled every IdleAfter/4, so idle comes between
		// IdleAfter-150ms and IdleAfter+150ms after the last one left.
		if d := time.Since(left); d < 400*time.Millisecond {
			t.Errorf("round %d: went idle %v after the last player left, before IdleAfter", round, d)
		}
		waitFor("upstream player gone", 2*time.Second, func() bool { return upstreamPlayers(upstream) == 0 })
		rec.Close()
	}
}
