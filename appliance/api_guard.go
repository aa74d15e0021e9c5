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

// authenticate enforces http.token on every path but /healthz. Without a
// token, reads are open to whoever reaches http.listen, and calls that
// change something are taken only from this machine (loopback), and not
// from a web page of another origin (a browser sends such a page's form
// or fetch POST without asking: Origin and Sec-Fetch-Site tell), nor one
// that reached 127.0.0.1 by DNS rebinding (its Host is not ours). Bodies
// must be JSON, which a browser cannot send cross-site without a CORS
// preflight we never answer.
func (a *Appliance) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		token := a.config().HTTP.Token
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tapedeck"`)
				writeError(w, http.StatusUnauthorized, "bearer token required")
				return
			}
		}
		if !changesState(r) {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" {
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
