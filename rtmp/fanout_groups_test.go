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

// adopt gives w the players as join does, each its slot.
func (w *streamWriter) adopt(players []*player) {
	for _, p := range players {
		p.fanSlot = uint8(w.leastHeldSlot())
		w.slots[p.fanSlot]++
		w.players = append(w.players, p)
	}
}

// With many players the shared writer serves them a group per pass,
// player i (joined i-th) in group i mod n, and spreads the groups' passes over the merge
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
	w := &streamWriter{srv: srv}
	w.adopt(players)
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

// Players leaving in the middle of a round (handed back, or stopped while
// the writer sleeps between passes) move no other player into another
// group: every player that stays is written exactly once a round.
func TestWriterGroupsStableWhilePlayersLeave(t *testing.T) {
	srv := NewServer(ServerConfig{SharedWriter: true}, nil)
	players := newDirectPlayersOf(t, srv, 4*playersPerGroup)
	w := &streamWriter{srv: srv}
	w.adopt(players)
	gone := map[*player]bool{}
	for round := 1; round <= 3; round++ {
		n := writerGroups(len(w.players)) // fixed for the round, as run does
		for pass := range n {
			w.mu.Lock()
			w.passLocked(time.Now(), n)
			w.mu.Unlock()
			// Two players leave after every pass, from the front of the
			// list, in groups served and not yet served this round.
			for _, p := range players[:len(players)-1] {
				if len(gone) >= 2*(4*(round-1)+pass+1) {
					break
				}
				if !gone[p] {
					gone[p] = true
					w.remove(p)
					<-p.handback
				}
			}
		}
		if round == 1 && writerGroups(len(w.players)) != 3 {
			t.Fatalf("%d players left after round 1: want fewer than 512, for 3 groups in the next rounds", len(w.players))
		}
		for i, p := range players {
			if gone[p] {
				continue
			}
			if got := p.sub.(*loopFeed).i; got != round {
				t.Fatalf("round %d: player %d (slot %d) written %d times, want %d", round, i, p.fanSlot, got, round)
			}
		}
	}
	held := 0
	for _, n := range w.slots {
		held += n
	}
	if held != len(w.players) {
		t.Errorf("slots hold %d players, the writer has %d", held, len(w.players))
	}
}
