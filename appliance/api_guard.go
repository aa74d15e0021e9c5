package appliance

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/appliance/console"
)

// Bounds on what one API request can make the server spend.
const (
	// apiHeaderTimeout is the time to send the request headers.
	apiHeaderTimeout = 10 * time.Second
	// apiBodyTimeout is the time to send a request body: API bodies are
	// a few hundred bytes, so a client trickling one holds a connection
	// at most this long.
	apiBodyTimeout = 5 * time.Second
	// apiIdleTimeout closes keep-alive connections that sit unused.
	apiIdleTimeout = 60 * time.Second
	// apiMaxHeaderBytes bounds the request line and headers.
	apiMaxHeaderBytes = 16 << 10
	// apiMaxBodyBytes bounds a request body (the largest is a push target).
	apiMaxBodyBytes = 64 << 10
)

// guardAPI wraps the API: body limits first (so that even a refused
// request cannot trickle), then authentication of every request.
func (a *Appliance) guardAPI(next http.Handler) http.Handler {
	return limitBody(a.authenticate(next))
}

// limitBody gives a request body apiBodyTimeout to arrive and caps its
// size. Requests without a body are left alone, so long downloads of
// recordings are not cut by a read deadline.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// Errors mean the connection cannot take a deadline (HTTP/2
			// stream, test recorder): the size cap still applies.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(apiBodyTimeout))
			r.Body = http.MaxBytesReader(w, r.Body, apiMaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// changesState reports whether a request method changes something.
func changesState(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authenticate enforces the credentials on every path but /healthz.
//
// With http.token or http.users set, a request is authorized by the
// bearer token (any client: a browser never adds it on its own, so it
// needs no CSRF check) or by a console session cookie; a cookie request
// that changes state must also come from our own origin and carry the
// session's CSRF token (see crossOrigin and console.CSRFHeader). Only
// the console's page shell (no data) and its sign-in go without.
//
// Without any credential (allowed on a loopback listener only, see
// checkConsole), reads are open to whoever reaches http.listen, and calls
// that change something are taken only from this machine (loopback), and
// not from a web page of another origin (a browser sends such a page's
// form or fetch POST without asking: Origin and Sec-Fetch-Site tell), nor
// one that reached 127.0.0.1 by DNS rebinding (its Host is not ours).
//
// Either way bodies must be JSON, which a browser cannot send cross-site
// without a CORS preflight we never answer.
func (a *Appliance) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		creds := a.credentials()
		if creds.Configured() {
			if code, why := a.checkCredentials(r, creds); code != 0 {
				if code == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="tapedeck"`)
				} else {
					a.log.Warn("http api: request refused", "method", r.Method, "path", logPath(r.URL.Path), "client", r.RemoteAddr, "why", why)
				}
				writeError(w, code, why)
				return
			}
		}
		if !changesState(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !creds.Configured() {
			if why := refuseUntokened(r); why != "" {
				a.log.Warn("http api: request refused", "method", r.Method, "path", logPath(r.URL.Path), "client", r.RemoteAddr, "why", why)
				writeError(w, http.StatusForbidden, why)
				return
			}
		}
		if r.ContentLength != 0 {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "request bodies must be Content-Type: application/json")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkCredentials decides a request when credentials are configured:
// 0 to take it, or the status and why to refuse it.
func (a *Appliance) checkCredentials(r *http.Request, creds console.Credentials) (int, string) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		got, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || creds.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(creds.Token)) != 1 {
			return http.StatusUnauthorized, "bearer token required"
		}
		return 0, ""
	}
	if sess, ok := a.web.sessions.FromRequest(r); ok && creds.Holds(sess) {
		if !changesState(r) {
			return 0, ""
		}
		if why := crossOrigin(r); why != "" {
			return http.StatusForbidden, why
		}
		if !console.CSRFValid(r, sess) {
			return http.StatusForbidden, "CSRF token missing or wrong (send the session's csrf as " + console.CSRFHeader + ")"
		}
		return 0, ""
	}
	if console.Public(r) {
		if changesState(r) {
			// The sign-in: not from another site's page either.
			if why := crossOrigin(r); why != "" {
				return http.StatusForbidden, why
			}
		}
		return 0, ""
	}
	if creds.Token == "" {
		return http.StatusUnauthorized, "sign in required"
	}
	return http.StatusUnauthorized, "bearer token required"
}

// refuseUntokened says why a state-changing request without http.token
// is refused, or "" to take it.
func refuseUntokened(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip, perr := netip.ParseAddr(host)
	if err != nil || perr != nil || !ip.Unmap().IsLoopback() {
		return "without http.token, changes are accepted from this machine (loopback) only"
	}
	if !loopbackHost(r.Host) {
		return "without http.token, changes need Host to be a loopback address or localhost"
	}
	return crossOrigin(r)
}

// crossOrigin says why a request that changes state comes from a page of
// another origin — its Origin is not our Host, or Sec-Fetch-Site says
// so — or "" if it does not.
func crossOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return "cross-origin request refused"
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "cross-origin request refused"
	}
	return ""
}

// loopbackHost reports whether a Host header names this machine by a
// loopback address or "localhost", not a name a DNS rebinding chose.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// logPath cuts a request path for a log line.
func logPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "…"
	}
	return p
}
