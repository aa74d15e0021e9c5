package appliance

import (
	"log/slog"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Live players get what they announced, as players of recordings do
// (appliance/vod): a stream whose video or audio reaches a player only over
// Enhanced RTMP (HEVC, AV1, VP9, Opus, ...) is refused, with
// NetStream.Play.Failed naming the codec, to a player that did not announce
// that codec in its connect (rtmp.CheckAnnounced); and what a publisher
// switches to later is not sent to it (announcedOnly).

// checkLiveCodecs refuses a play of app/name when the stream's codecs (as
// its sequence headers say; nothing yet is no refusal) need an Enhanced
// RTMP codec the player did not announce.
func (h *rtmpHandler) checkLiveCodecs(ci *rtmp.ConnInfo, app, name string) error {
	s := h.hub.Lookup(app, name)
	if s == nil {
		return nil
	}
	st := s.Stats()
	if err := rtmp.CheckAnnounced("stream "+app+"/"+name, st.VideoCodec, st.AudioCodec, ci.Caps.Takes); err != nil {
		h.log.Warn("play refused", "app", app, "stream", name, "addr", ci.RemoteAddr.String(), "flashVer", ci.FlashVer, "err", err)
		return err
	}
	return nil
}

// announcedOnly is a live subscription that drops the media messages its
// player cannot parse: Enhanced RTMP tags, and codecs only Enhanced RTMP
// carries, of a codec the player did not announce. Of a multitrack message
// such a player gets track 0, when it is H.264 or AAC, as a legacy tag
// (remux.LegacyTrack0); the other tracks reach the players that announced
// their codecs. Pre-standard HEVC
// (CodecID 12, from old encoders) goes to a player that announced hvc1 in
// the Enhanced RTMP form it decodes, as recordings do. A player that
// announced any codec ("*", a forwarder) gets the subscription unwrapped,
// the messages as published.
func announcedOnly(sub *hub.Subscriber, caps rtmp.Caps, log *slog.Logger) rtmp.Subscription {
	if _, all := caps.Codecs["*"]; all {
		return sub
	}
	return &announcedSub{Subscriber: sub, caps: caps, log: log}
}

type announcedSub struct {
	*hub.Subscriber
	caps     rtmp.Caps
	log      *slog.Logger
	verdicts map[remux.FourCC]bool
	pool     *remux.Pool // for rewritten messages (legacy HEVC, multitrack track 0), made on first use
}

// Next is hub.Subscriber.Next without what the player did not announce; it
// blocks until at least one message is left.
func (a *announcedSub) Next(dst []*remux.Message) ([]*remux.Message, error) {
	n := len(dst)
	for {
		out, err := a.Subscriber.Next(dst)
		kept := a.keep(out, n)
		if len(kept) > n || err != nil {
			return kept, err
		}
		dst = kept
	}
}

// Poll is hub.Subscriber.Poll with the same filter as Next, so a player
// holding a message for its merge window (rtmp.Poller) never gets, through
// the back door, what Next would have dropped.
func (a *announcedSub) Poll(dst []*remux.Message) []*remux.Message {
	return a.keep(a.Subscriber.Poll(dst), len(dst))
}

// keep filters out[n:] in place: what the player cannot decode is
// released, pre-standard HEVC is rewritten to the Enhanced form.
func (a *announcedSub) keep(out []*remux.Message, n int) []*remux.Message {
	kept := out[:n]
	for _, m := range out[n:] {
		if rtmp.NeedsEnhanced(m) && !a.takes(m.Frame.Codec) {
			if m.Frame.Multitrack == remux.NotMultitrack {
				m.Release()
				continue
			}
			// A multitrack message: what the player reads of it is
			// track 0 if that is H.264 or AAC, as a legacy tag.
			// Rewritten once per message for all such players.
			pool := a.legacyPool()
			r := m.Rewritten(func(m *remux.Message) *remux.Message { return remux.LegacyTrack0(m, pool) })
			m.Release()
			if m = r; m == nil {
				continue
			}
		}
		if m.Kind == remux.KindVideo && !m.Frame.Enhanced && m.Frame.Codec == remux.CodecHEVC {
			pool := a.legacyPool()
			r := m.Rewritten(func(m *remux.Message) *remux.Message { return remux.EnhanceLegacyHEVC(m, pool) })
			m.Release()
			if m = r; m == nil {
				continue
			}
		}
		kept = append(kept, m)
	}
	// Clear what was dropped past the kept ones, so the caller's slice
	// holds no released message.
	clear(out[len(kept):])
	return kept
}

// legacyPool is the pool of the messages keep rewrites, made on first use.
func (a *announcedSub) legacyPool() *remux.Pool {
	if a.pool == nil {
		a.pool = remux.NewPool()
	}
	return a.pool
}

// takes asks the player's caps once per codec and logs a refusal once.
func (a *announcedSub) takes(codec remux.FourCC) bool {
	ok, known := a.verdicts[codec]
	if known {
		return ok
	}
	ok = a.caps.Takes(codec)
	if a.verdicts == nil {
		a.verdicts = make(map[remux.FourCC]bool, 2)
	}
	a.verdicts[codec] = ok
	if !ok {
		a.log.Warn("live: not sending media the player did not announce Enhanced RTMP support for",
			"app", a.Stream().App(), "stream", a.Stream().Name(), "codec", codec.String())
	}
	return ok
}
