package appliance

import (
	"fmt"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/rtmp"
)

// awaitPublisher handles a play of a stream nobody publishes (yet): it
// says so in the log, once, and with apps.<app>.play_wait set waits that
// long for a publisher before refusing the play with
// NetStream.Play.StreamNotFound. With play_wait 0 the player waits
// attached, as long as it stays (a camera that comes back, a pull that
// starts on demand), and the play starts at once.
//
// The wait holds the play command's answer, so the player sees either
// Play.Start with media following or StreamNotFound, never a Play.Start
// that ends in nothing. It is bounded by play_wait and ends at shutdown.
func (h *rtmpHandler) awaitPublisher(ci *rtmp.ConnInfo, sub *hub.Subscriber, app, name string, wait time.Duration) error {
	if sub.Publishing() {
		return nil
	}
	args := []any{"app", app, "stream", name, "remote", ci.RemoteAddr.String()}
	if wait > 0 {
		args = append(args, "play_wait", wait)
	}
	h.log.Info("waiting for publisher", args...)
	if wait <= 0 || sub.WaitPublisher(wait, h.stopWaits) {
		return nil
	}
	return fmt.Errorf("%w: nobody published %s/%s within apps.%s.play_wait (%v)", rtmp.ErrStreamNotFound, app, name, app, wait)
}
