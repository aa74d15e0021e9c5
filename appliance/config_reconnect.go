package appliance

import (
	"net/url"
	"strings"
)

// checkReconnectURL checks rtmp.reconnect_url, the tcUrl an Enhanced RTMP
// v2 ReconnectRequest points publishers to: empty (their own tcUrl, back
// to this box), rtmp:// or rtmps://host[:port]/app, or relative
// ("//host/app", "/app"), which clients resolve against their tcUrl. It is
// a tcUrl, not a stream URL: clients keep their stream name and key.
func checkReconnectURL(bad badFunc, key, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.ContainsAny(raw, " \t\r\n"):
		bad(key, "%q is not a URL", raw)
	case u.Scheme == "" && !strings.HasPrefix(raw, "/"):
		bad(key, "%q is neither rtmp://host/app, rtmps://host/app nor relative (//host/app, /app)", raw)
	case u.Scheme != "" && u.Scheme != "rtmp" && u.Scheme != "rtmps":
		bad(key, "%q: scheme %q is not rtmp or rtmps", raw, u.Scheme)
	case u.Scheme != "" && u.Host == "":
		bad(key, "%q has no host", raw)
	case strings.Trim(u.Path, "/") == "":
		bad(key, "%q has no app (rtmp://host/app)", raw)
	case u.Fragment != "":
		bad(key, "%q has a fragment; a tcUrl takes none", raw)
	}
}
