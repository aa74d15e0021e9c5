package rtmp

import (
	"testing"
	"time"
)

func TestWriterGroups(t *testing.T) {
	for _, tc := range []struct{ players, groups int }{
		{0, 1}, {1, 1}, {16, 1}, {128, 1}, {255, 1}, {256, 2}, {384, 3}, {512, 4}, {1000, 4}, {5000, 4},
	} {
		if got := writerGroups(tc.players); got != tc.groups {
			t.Errorf("writerGroups(%d) = %d, want %d", tc.players, got, tc.groups)
		}
	}
}

// With many players the shared writer serves them a group per pass,
// player i in group i mod n, and spreads the groups' passes over the merge
// window: the next group waits window / n after the previous pass, a group
// its whole window after its own previous pass.
func TestWriterServesGroupsSpreadOverTheWindow(t *testing.T) {
	srv := NewServer(ServerConfig{SharedWriter: true}, nil)
	players := newDirectPlayersOf(t, srv, 2*playersPerGroup)
	// 1000 players at 10 µs a write: a 40 ms window.
	srv.pacer.players.Store(1000)
	srv.pacer.costNs.Store(int64(10 * time.Microsecond))
	win := srv.pacer.window()
	if win != 40*time.Millisecond {
		t.Fatalf("window %v, want 40ms", win)
	}
	w := &streamWriter{srv: srv, players: players}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := writerGroups(len(w.players))
	if n != 2 {
		t.Fatalf("%d groups, want 2", n)
	}
	polls := func() (even, odd int) {
		for i, p := range players {
			k := p.sub.(*loopFeed).i
			if i%2 == 0 {
				even += k
			} else {
				odd += k
			}
		}
		return even, odd
	}
	if d := w.holdLocked(n, time.Now()); d != 0 {
		t.Errorf("first pass holds %v, want 0", d)
	}
	w.passLocked(time.Now(), n)
	srv.pacer.costNs.Store(int64(10 * time.Microsecond)) // the pass measured its own
	if e, o := polls(); w.pass.wrote != playersPerGroup || e != playersPerGroup || o != 0 {
		t.Fatalf("first pass wrote to %d players (even polls %d, odd %d): want the %d even ones", w.pass.wrote, e, o, playersPerGroup)
	}
	// The second group comes half a window after the first.
	if d := w.holdLocked(n, w.last); d != win/2 {
		t.Errorf("second group holds %v after the first pass, want %v", d, win/2)
	}
	start := w.last.Add(win / 2)
	w.passLocked(start, n)
	srv.pacer.costNs.Store(int64(10 * time.Microsecond))
	if e, o := polls(); w.pass.wrote != playersPerGroup || e != playersPerGroup || o != playersPerGroup {
		t.Fatalf("second pass wrote to %d players (even polls %d, odd %d): want the %d odd ones", w.pass.wrote, e, o, playersPerGroup)
	}
	// The first group again: a whole window after its own pass, which is
	// half a window after the second group's.
	if d := w.holdLocked(n, start); d != win/2 {
		t.Errorf("first group holds %v after the second pass, want %v", d, win/2)
	}
	if len(w.players) != 2*playersPerGroup {
		t.Errorf("%d players left with the writer, want all %d", len(w.players), 2*playersPerGroup)
	}
}
