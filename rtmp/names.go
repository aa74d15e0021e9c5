package rtmp

import (
	"net/url"
	"strings"
)

// nameFromPath finds the stream name of a publish or play that came without
// one, in the URL path the client connected to. Clients that take the whole
// path of rtmp://box/live/cam as connect's app (gortmplib, and so MediaMTX,
// which takes a name only from a URL fragment) send app "live/cam" and an
// empty name: the last element of app is the name, the rest the app. When
// app is one element, tcUrl's path may carry more ("rtmp://box/live/cam"
// with app "live"); its last element is then the name. It returns app
// unchanged and an empty name when neither path has a second element, so a
// request that fails today still fails.
func nameFromPath(app, tcURL string) (string, string) {
	p := app
	if !strings.Contains(p, "/") {
		if u, err := url.Parse(tcURL); err == nil {
			tp := strings.Trim(u.Path, "/")
			if app == "" || strings.HasPrefix(tp, app+"/") {
				p = tp
			}
		}
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return app, ""
	}
	return p[:i], p[i+1:]
}
