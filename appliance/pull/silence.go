package pull

import (
	"sync/atomic"
	"time"
)

// silenceWatch notices a camera whose encoder froze while its RTSP
// session lives on. Over TCP the camera's RTCP Sender Reports keep
// feeding the session's read deadline, so gortsplib's own ReadTimeout
// never fires: without this the pull would wait for a picture forever.
// Only the video tracks are watched (every track of a session that has
// none): a camera whose audio falls silent (a muted microphone, voice
// activity detection on G.711) still sends good video, and a reconnect
// every few seconds would cut that recording for nothing.
//
// (Until gortsplib v5.3.1 this watch also had to beat a crash: v5.3.0's
// receiver report divided by the packets received since the last one,
// so a track silent for a whole 5 s period panicked the process.)
type silenceWatch struct {
	last    []atomic.Int64 // unix ns of the track's last packet, 0 before its first
	watched []bool
}

// newSilenceWatch watches the tracks whose video[i] is true, or every
// track when none is.
func newSilenceWatch(video []bool) *silenceWatch {
	w := &silenceWatch{last: make([]atomic.Int64, len(video)), watched: make([]bool, len(video))}
	any := false
	for _, v := range video {
		any = any || v
	}
	for i, v := range video {
		w.watched[i] = v || !any
	}
	return w
}

// packet notes a packet of track i now.
func (w *silenceWatch) packet(i int, now time.Time) { w.last[i].Store(now.UnixNano()) }

// silent returns the first watched track that has had packets and none
// for limit, or -1.
func (w *silenceWatch) silent(now time.Time, limit time.Duration) int {
	for i := range w.last {
		if at := w.last[i].Load(); w.watched[i] && at != 0 && now.Sub(time.Unix(0, at)) >= limit {
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
