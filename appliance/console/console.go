// Package console is the web console served at / by the HTTP API: a page
// of plain HTML, JS and CSS embedded in the binary (it works on a LAN
// without internet, no build step), with hls.js vendored for browsers
// without native HLS, and its sign-in: a bounded session table, the
// session cookie and the CSRF token the API guard checks.
//
// The page holds no data: everything it shows comes from the JSON API,
// behind the same guard as any other client, so a browser without
// credentials gets the page and a login form, never a stream name.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// LoginPath is where the page signs in; the guard lets it through
// without credentials.
const LoginPath = "/api/v1/login"

// Public reports whether a request may be served without credentials:
// the page shell and its scripts (they hold no data), and the sign-in.
func Public(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/assets/")
	case http.MethodPost:
		return r.URL.Path == LoginPath
	}
	return false
}

// contentSecurity allows the page only its own scripts and styles, media
// from the box (hls.js feeds MediaSource through blob: URLs and runs its
// transmuxer in a blob: worker) and no framing by another site.
const contentSecurity = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the page at / and its files under /assets/.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurity)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if r.URL.Path == "/" {
			// The page changes with the binary: always revalidate.
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
