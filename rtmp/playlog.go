package rtmp

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// playTally is what one play delivered, for its single "play ended" line.
// Only the player's goroutine touches it, so the counters are plain
// integers: counting costs an add per write, no allocation.
type playTally struct {
	bytes    uint64 // written to the socket by the player
	messages uint64 // messages taken from the subscription
	name     string // stream name as played
	start    time.Time
	reason   string // why the play ended, when the player knows it
	err      error  // set with reason when it is worth a look
}

// skipCounter is implemented by subscriptions that skip to a keyframe
// when the player falls behind (hub.Subscriber).
type skipCounter interface{ Skips() uint64 }

// ordinaryClose reports whether err is how a peer ends a connection:
// it hung up (EOF), reset it, or we closed it ourselves.
func ordinaryClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// writeFailed records why a write to the player failed.
func (t *playTally) writeFailed(err error) {
	if ordinaryClose(err) {
		t.reason = "client left"
		return
	}
	t.reason, t.err = "write failed", err
}

// logEnd writes the play's one "play ended" line (INFO): how long it
// lasted, what it carried and why it ended. An ordinary disconnect is a
// reason, not an error.
func (p *player) logEnd() {
	t := &p.tally
	reason, err := t.reason, t.err
	if reason == "" {
		// deleteStream, closeStream or a new play on the stream, unless
		// the connection ended.
		reason, err = p.c.endReason("client stopped")
	}
	args := make([]any, 0, 14)
	args = append(args, "stream", logName(t.name), "duration", time.Since(t.start).Round(time.Millisecond),
		"bytes", t.bytes, "messages", t.messages, "reason", reason)
	if sc, ok := p.sub.(skipCounter); ok {
		args = append(args, "skips", sc.Skips())
	}
	if err != nil {
		args = append(args, "err", err)
	}
	p.log.Info("play ended", args...)
}

// endReason says why a stream of c ends when the connection's read loop
// is what ended it, else stopped (the client ended the stream itself).
// err is set only when the connection failed.
func (c *conn) endReason(stopped string) (string, error) {
	e := c.ended.Load()
	switch {
	case e == nil:
		return stopped, nil
	case errors.Is(*e, net.ErrClosed):
		return "connection closed", nil // by us: shutdown, a kick
	case *e == nil || ordinaryClose(*e):
		return "client left", nil
	default:
		return "connection failed", *e
	}
}
