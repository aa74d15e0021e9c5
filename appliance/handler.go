package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/rtmp"
)

// rtmpHandler connects RTMP connections to the hub according to the config.
type rtmpHandler struct {
	cfg func() *Config
	hub *hub.Hub
	log *slog.Logger
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

func appOf(ci *rtmp.ConnInfo) string {
	a, _, _ := strings.Cut(ci.App, "/")
	return a
}

func (h *rtmpHandler) OnConnect(ci *rtmp.ConnInfo) error {
	app := appOf(ci)
	if _, ok := h.cfg().App(app); !ok {
		return fmt.Errorf("%w: app %q is not configured", rtmp.ErrRejected, app)
	}
	return nil
}

func (h *rtmpHandler) streamConfig(app string) hub.StreamConfig {
	a, _ := h.cfg().App(app)
	return hub.StreamConfig{GOPCache: a.GOPCache, RepublishGrace: a.RepublishGrace}
}

func (h *rtmpHandler) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	app, name := streamPath(ci.App, req.Name)
	if name == "" {
		return nil, fmt.Errorf("%w: empty stream name", rtmp.ErrUnauthorized)
	}
	pub, err := h.hub.Publish(app, name, h.streamConfig(app), "rtmp "+ci.RemoteAddr.String())
	if errors.Is(err, hub.ErrStreamBusy) {
		return nil, fmt.Errorf("%w: %s/%s", rtmp.ErrStreamBusy, app, name)
	}
	if err != nil {
		return nil, err
	}
	return pub, nil
}

func (h *rtmpHandler) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	app, name := streamPath(ci.App, req.Name)
	if name == "" {
		return nil, fmt.Errorf("%w: empty stream name", rtmp.ErrStreamNotFound)
	}
	return h.hub.Subscribe(app, name, h.streamConfig(app)), nil
}
