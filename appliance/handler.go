package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/vod"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// rtmpHandler connects RTMP connections to the hub according to the config.
type rtmpHandler struct {
	cfg  func() *Config
	hub  *hub.Hub
	log  *slog.Logger
	http *http.Client
	// published is told about every publish that started.
	published func(app, stream string, ac AppConfig)
	// demand is told about every player, so an on-demand pull starts.
	demand func(app, stream string) bool
	// rec tells playback which files are still being recorded.
	rec *recordings
	// stopWaits is closed at shutdown: players waiting for a publisher
	// (play_wait) stop waiting.
	stopWaits <-chan struct{}
}

// streamPath turns what a client sent into the hub's app and stream name.
// Clients split rtmp://box/live/a/b differently (ffmpeg: app "live/a" +
// "b"; others: app "live" + "a/b"), so app and name are joined and cut at
// the first slash: the app is one path element, the rest is the name.
func streamPath(app, name string) (string, string) {
	full := strings.Trim(app, "/") + "/" + strings.Trim(name, "/")
	a, n, _ := strings.Cut(full, "/")
	return a, n
}

// reqApp is the app a request's name belongs to (rtmp.StreamRequest.App;
// requests made without the rtmp package leave it empty: the connection's).
func reqApp(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) string {
	if req.App != "" {
		return req.App
	}
	return ci.App
}

func appOf(ci *rtmp.ConnInfo) string {
	a, _, _ := strings.Cut(ci.App, "/")
	return a
}

func (h *rtmpHandler) OnConnect(ci *rtmp.ConnInfo) error {
	app := appOf(ci)
	if err := checkName("app", app); err != nil {
		return fmt.Errorf("%w: %v", rtmp.ErrRejected, err)
	}
	if app == h.cfg().VOD.App {
		return nil // playback of recordings (playVOD)
	}
	if _, ok := h.cfg().App(app); !ok {
		return fmt.Errorf("%w: app %q is not configured", rtmp.ErrRejected, app)
	}
	return nil
}

func streamConfig(a AppConfig) hub.StreamConfig {
	return hub.StreamConfig{GOPCache: a.GOPCache, RepublishGrace: a.RepublishGrace}
}

// webhooks returns the app's webhooks, or the global ones if it has none.
func (h *rtmpHandler) webhooks(a AppConfig) WebhooksConfig {
	if !a.Webhooks.isZero() {
		return a.Webhooks
	}
	return h.cfg().Webhooks
}

// admit resolves the app and stream a publish or play asks for, finds
// the app's config and checks the caller against the access rules side
// picks from it: the same steps for both, which differ in the rules and in
// what a missing name or app is reported as (refusal: ErrUnauthorized to a
// publisher, ErrStreamNotFound to a player).
func (h *rtmpHandler) admit(ci *rtmp.ConnInfo, req *rtmp.StreamRequest, refusal error, side func(AppConfig) AccessConfig) (app, name string, ac AppConfig, err error) {
	app, name = streamPath(reqApp(ci, req), req.Name)
	if name == "" {
		return "", "", AppConfig{}, fmt.Errorf("%w: empty stream name", refusal)
	}
	if err := checkStreamPath(app, name); err != nil {
		return "", "", AppConfig{}, err
	}
	ac, ok := h.cfg().App(app)
	if !ok {
		return "", "", AppConfig{}, fmt.Errorf("%w: app %q is not configured", refusal, app)
	}
	if err := authorize(side(ac), ci.RemoteAddr, req.Query); err != nil {
		return "", "", AppConfig{}, err
	}
	return app, name, ac, nil
}

func (h *rtmpHandler) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	app, name, ac, err := h.admit(ci, req, rtmp.ErrUnauthorized, func(a AppConfig) AccessConfig { return a.Publish })
	if err != nil {
		return nil, err
	}
	hooks := h.webhooks(ac)
	ev := hookEvent{Action: "publish", App: app, Stream: name, Addr: ci.RemoteAddr.String(), Query: flatQuery(req.Query)}
	if hooks.OnPublish != "" {
		if err := callHook(context.Background(), h.http, hooks.OnPublish, hooks.Timeout, ev); err != nil {
			return nil, fmt.Errorf("%w: %v", rtmp.ErrUnauthorized, err)
		}
	}
	pub, err := h.hub.Publish(app, name, streamConfig(ac), "rtmp "+ci.RemoteAddr.String())
	if errors.Is(err, hub.ErrStreamBusy) {
		return nil, fmt.Errorf("%w: %s/%s", rtmp.ErrStreamBusy, app, name)
	}
	if err != nil {
		return nil, err
	}
	pub.SetKicker(ci.Kick)
	if h.published != nil {
		h.published(app, name, ac)
	}
	return &hookedPublication{Publication: pub, done: func() {
		if hooks.OnPublishDone == "" {
			return
		}
		ev.Action = "publish_done"
		go func() {
			if err := callHook(context.Background(), h.http, hooks.OnPublishDone, hooks.Timeout, ev); err != nil {
				h.log.Warn("on_publish_done webhook failed", "app", app, "stream", name, "err", err)
			}
		}()
	}}, nil
}

// hookedPublication runs the publish_done webhook when the publish ends.
type hookedPublication struct {
	*hub.Publication
	done func()
}

func (p *hookedPublication) Write(m *remux.Message) { p.Publication.Write(m) }

func (p *hookedPublication) Close() {
	p.Publication.Close()
	p.done()
}

func (h *rtmpHandler) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	if appOf(ci) == h.cfg().VOD.App {
		return h.playVOD(ci, req)
	}
	app, name, ac, err := h.admit(ci, req, rtmp.ErrStreamNotFound, func(a AppConfig) AccessConfig { return a.Play })
	if err != nil {
		return nil, err
	}
	if hooks := h.webhooks(ac); hooks.OnPlay != "" {
		ev := hookEvent{Action: "play", App: app, Stream: name, Addr: ci.RemoteAddr.String(), Query: flatQuery(req.Query)}
		if err := callHook(context.Background(), h.http, hooks.OnPlay, hooks.Timeout, ev); err != nil {
			return nil, fmt.Errorf("%w: %v", rtmp.ErrUnauthorized, err)
		}
	}
	if err := h.checkLiveCodecs(ci, app, name); err != nil {
		return nil, err
	}
	sub := h.hub.Subscribe(app, name, streamConfig(ac))
	if h.demand != nil {
		h.demand(app, name)
	}
	if err := h.awaitPublisher(ci, sub, app, name, ac.PlayWait); err != nil {
		sub.Close()
		return nil, err
	}
	return announcedOnly(sub, ci.Caps, h.log), nil
}

// playVOD plays a recording under storage.dir (appliance/vod). The play
// auth and on_play webhook are those of the app the recording belongs to
// (the first path element: vod/live/cam1/x.mp4 is app "live"), if it is
// configured.
func (h *rtmpHandler) playVOD(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	cfg := h.cfg()
	rel := vod.RelName(reqApp(ci, req), req.Name)
	if err := checkRecordingName(rel); err != nil {
		return nil, err
	}
	t, err := vod.Resolve(cfg.Storage.Dir, rel, strings.HasPrefix(req.RawName, "mp4:"))
	if err != nil {
		h.log.Warn("vod: play refused", "name", rel, "addr", ci.RemoteAddr.String(), "err", err)
		if !errors.Is(err, rtmp.ErrStreamNotFound) {
			err = fmt.Errorf("%w: %v", rtmp.ErrStreamNotFound, err)
		}
		return nil, err
	}
	ev := hookEvent{Action: "play", App: cfg.VOD.App, Stream: t.Rel, Addr: ci.RemoteAddr.String(), Query: flatQuery(req.Query)}
	hooks := cfg.Webhooks
	if ac, ok := cfg.App(t.App()); ok {
		if err := authorize(ac.Play, ci.RemoteAddr, req.Query); err != nil {
			return nil, err
		}
		hooks = h.webhooks(ac)
	}
	if hooks.OnPlay != "" {
		if err := callHook(context.Background(), h.http, hooks.OnPlay, hooks.Timeout, ev); err != nil {
			return nil, fmt.Errorf("%w: %v", rtmp.ErrUnauthorized, err)
		}
	}
	// HEVC, AV1, VP9 (and Opus, FLAC, ...) go out only over Enhanced
	// RTMP, to a player that announced the codec in its connect; others
	// are refused (NetStream.Play.Failed) rather than sent undecodable.
	s, err := vod.Open(t, vod.Options{Log: h.log.With("vod", t.Rel), Start: req.Start, Duration: req.Duration, From: req.Query.Get("start"),
		Open: h.rec.openSegments(cfg.Storage.Dir, t), Supports: ci.Supports})
	if err != nil {
		if errors.Is(err, vod.ErrCodecNotAnnounced) {
			h.log.Warn("vod: play refused", "name", t.Rel, "addr", ci.RemoteAddr.String(), "flashVer", ci.FlashVer, "err", err)
		}
		return nil, err
	}
	return s, nil
}

// StreamLength answers getStreamLength for recordings (rtmp.StreamLengthHandler).
func (h *rtmpHandler) StreamLength(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) float64 {
	if appOf(ci) != h.cfg().VOD.App {
		return 0
	}
	t, err := vod.Resolve(h.cfg().Storage.Dir, vod.RelName(reqApp(ci, req), req.Name), strings.HasPrefix(req.RawName, "mp4:"))
	if err != nil {
		return 0
	}
	s, err := vod.Open(t, vod.Options{Log: h.log})
	if err != nil {
		return 0
	}
	defer s.Close()
	return s.Length()
}
