package pull

import (
	"sync/atomic"
	"time"
)

// rtspSilenceLimit is how long a track that has sent RTP may fall silent
// before the session is closed and the camera dialled again. gortsplib
// v5.3.0's receiver-report timer divides by the packets received since
// its last report (every 5 s, over TCP too): a track silent for a whole
// period panics the process (integer divide by zero in
// rtpreceiver.(*Receiver).report; TestE2EPullCameraSilent freezes a
// camera 11 s; gortsplib fixes it upstream).
// Closing the session before a full period of silence turns that crash
// into a reconnect. Remove with a gortsplib that has the fix.
const rtspSilenceLimit = 3500 * time.Millisecond

// silenceWatch remembers when each track last had a packet.
type silenceWatch struct {
	last []atomic.Int64 // unix ns of the track's last packet, 0 before its first
}

func newSilenceWatch(tracks int) *silenceWatch {
	return &silenceWatch{last: make([]atomic.Int64, tracks)}
}

// packet notes a packet of track i now.
func (w *silenceWatch) packet(i int, now time.Time) { w.last[i].Store(now.UnixNano()) }

// silent returns the first track that has had packets and none for limit,
// or -1.
func (w *silenceWatch) silent(now time.Time, limit time.Duration) int {
	for i := range w.last {
		if at := w.last[i].Load(); at != 0 && now.Sub(time.Unix(0, at)) >= limit {
			return i
		}
	}
	return -1
}

// run checks every tick until done; onSilent is called once, with the
// silent track, and run returns.
func (w *silenceWatch) run(done <-chan struct{}, tick, limit time.Duration, onSilent func(track int)) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			if i := w.silent(now, limit); i >= 0 {
				onSilent(i)
				return
			}
		}
	}
}
