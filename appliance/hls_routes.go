package appliance

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/hls"
	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/recorder"
)

// newHLS makes the /hls/ server: live muxers on the hub, VOD over the
// recordings index. Requests reach it through guardAPI.
func (a *Appliance) newHLS() *hls.Server {
	return hls.New(hls.Options{
		Hub:    a.hub,
		Log:    a.log,
		Config: func() hls.Config { return a.config().HTTP.HLS.muxerConfig() },
		Admit:  a.admitHLS,
		Index:  func() *recorder.Index { return a.rec.index(a.config().Storage.Dir) },
	})
}

// admitHLS applies the app's play rules (allow, keys as ?key=) to an HLS
// request, as OnPlay does to an RTMP player. on_play webhooks are not
// called per HLS request.
func (a *Appliance) admitHLS(r *http.Request, app, stream string) (hub.StreamConfig, error) {
	if err := checkStreamPath(app, stream); err != nil {
		return hub.StreamConfig{}, err
	}
	ac, ok := a.config().App(app)
	if !ok && strings.HasPrefix(r.URL.Path, "/hls/vod/") {
		// Recordings of an app no longer configured: the token guards them.
		return hub.StreamConfig{}, nil
	}
	if !ok {
		return hub.StreamConfig{}, fmt.Errorf("app %q is not configured", app)
	}
	var remote net.Addr
	if ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		remote = ap
	}
	if err := authorize(ac.Play, remote, r.URL.Query()); err != nil {
		return hub.StreamConfig{}, err
	}
	return streamConfig(ac), nil
}

// serveHLS answers /hls/ unless http.hls.enabled is off.
func (a *Appliance) serveHLS(w http.ResponseWriter, r *http.Request) {
	if !a.config().HTTP.HLS.Enabled || a.hls == nil {
		writeError(w, http.StatusNotFound, "HLS is disabled (http.hls.enabled)")
		return
	}
	a.hls.ServeHTTP(w, r)
}
