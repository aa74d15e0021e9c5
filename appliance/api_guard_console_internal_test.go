package appliance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/console"
	"golang.org/x/crypto/bcrypt"
)

// consoleTAppliance is guardTAppliance with a console user "ana" whose
// password is "pw" (bcrypt at its lowest cost: the config check wants 10,
// the guard does not care).
func consoleTAppliance(t *testing.T, token string) *Appliance {
	t.Helper()
	a := guardTAppliance(t, token)
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a.cfg.HTTP.Users = []console.User{{Name: "ana", PasswordHash: string(h)}}
	return a
}

// consoleTLogin signs in through POST /api/v1/login and returns the
// response.
func consoleTLogin(t *testing.T, h http.Handler, body string, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "http://box.lan:8080"+console.LoginPath, strings.NewReader(body))
	r.RemoteAddr = "192.168.1.5:40000"
	r.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A right password sets a session cookie with the attributes that keep
// it from scripts and other sites; the session's CSRF token is answered.
func TestConsoleLoginSetsCookie(t *testing.T) {
	h := consoleTAppliance(t, "").apiHandler()
	w := consoleTLogin(t, h, `{"user":"ana","password":"pw"}`, map[string]string{"Origin": "http://box.lan:8080"})
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var s struct{ Auth, User, CSRF string }
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || s.Auth != "session" || s.User != "ana" || len(s.CSRF) < 43 {
		t.Errorf("login answer %s (%v)", w.Body, err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if c.Name != console.CookieName || len(c.Value) != 43 || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, a 256-bit value, not Secure over plain HTTP", c)
	}
	// Over TLS (here: a proxy that says so) the cookie is Secure.
	w = consoleTLogin(t, h, `{"user":"ana","password":"pw"}`, map[string]string{"X-Forwarded-Proto": "https"})
	if c := w.Result().Cookies(); w.Code != 200 || len(c) != 1 || !c[0].Secure {
		t.Errorf("login behind TLS: %d, cookies %v, want Secure", w.Code, c)
	}
}

// Wrong passwords, unknown users and another site's page get no session.
func TestConsoleLoginRefused(t *testing.T) {
	h := consoleTAppliance(t, "tok").apiHandler()
	for _, c := range []struct {
		name, body string
		headers    map[string]string
		code       int
	}{
		{"wrong password", `{"user":"ana","password":"nope"}`, nil, 401},
		{"unknown user", `{"user":"bob","password":"pw"}`, nil, 401},
		{"wrong token", `{"token":"tok2"}`, nil, 401},
		{"cross-origin", `{"user":"ana","password":"pw"}`, map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site fetch", `{"user":"ana","password":"pw"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"form post", `user=ana&password=pw`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := consoleTLogin(t, h, c.body, c.headers)
			if w.Code != c.code || len(w.Result().Cookies()) != 0 {
				t.Errorf("%d %s, cookies %v; want %d and no cookie", w.Code, w.Body, w.Result().Cookies(), c.code)
			}
		})
	}
	if w := consoleTLogin(t, h, `{"token":"tok"}`, nil); w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Errorf("sign-in with the token: %d %s", w.Code, w.Body)
	}
}

// A session cookie authorizes reads like the token; changes need the
// session's CSRF token and our own origin; an expired or unknown cookie
// is refused; the page shell needs nothing and holds no data.
func TestAPIGuardSessionCookie(t *testing.T) {
	a := consoleTAppliance(t, "s3cret")
	h := a.apiHandler()
	fp, _ := a.credentials().Fingerprint("ana", false)
	id, sess := a.web.sessions.Create("ana", false, fp, time.Hour)
	expired, _ := a.web.sessions.Create("ana", false, fp, time.Nanosecond)
	time.Sleep(time.Millisecond)
	const lan, host = "192.168.1.5:40000", "box.lan:8080"
	cookie := func(v string) string { return console.CookieName + "=" + v }
	kick := "/api/v1/streams/live/cam1/kick"
	cases := []struct {
		name string
		req  guardTReq
		code int
		msg  string
	}{
		{"read with a cookie", guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id)}}, 200, "["},
		{"HLS with a cookie reaches the routes", guardTReq{method: "GET", path: "/hls/live/cam1/index.m3u8", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id)}}, 404, ""},
		{"read with an expired cookie", guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(expired)}}, 401, "required"},
		{"read with a made-up cookie", guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(strings.Repeat("A", 43))}}, 401, "required"},
		{"HLS without credentials", guardTReq{method: "GET", path: "/hls/live/cam1/index.m3u8", remote: lan, host: host}, 401, "required"},
		{"recording without credentials", guardTReq{method: "GET", path: "/api/v1/recordings/live/cam1/x.mp4", remote: lan, host: host}, 401, "required"},
		{"change without CSRF", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id)}}, 403, "CSRF"},
		{"change with a wrong CSRF", guardTReq{method: "DELETE", path: "/api/v1/recordings/live/cam1/x.mp4", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id), console.CSRFHeader: strings.Repeat("x", 43)}}, 403, "CSRF"},
		{"change with CSRF", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id), console.CSRFHeader: sess.CSRF, "Origin": "http://" + host}}, 404, "no such live stream"},
		{"cross-origin change with the cookie and CSRF", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id), console.CSRFHeader: sess.CSRF, "Origin": "http://evil.example"}}, 403, "cross-origin"},
		{"cross-site change by Sec-Fetch-Site", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id), console.CSRFHeader: sess.CSRF, "Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin"},
		{"change with an expired cookie", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(expired), console.CSRFHeader: sess.CSRF}}, 401, "required"},
		{"a wrong bearer beside a good cookie", guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id), "Authorization": "Bearer nope"}}, 401, "bearer"},
		{"bearer needs no CSRF", guardTReq{method: "POST", path: kick, remote: lan, host: host,
			headers: map[string]string{"Authorization": "Bearer s3cret"}}, 404, "no such live stream"},
		{"the page without credentials", guardTReq{method: "GET", path: "/", remote: lan, host: host}, 200, "Sign in"},
		{"a script without credentials", guardTReq{method: "GET", path: "/assets/app.js", remote: lan, host: host}, 200, "use strict"},
		{"session state without credentials", guardTReq{method: "GET", path: "/api/v1/session", remote: lan, host: host}, 401, "required"},
		{"storage without credentials", guardTReq{method: "GET", path: "/api/v1/storage", remote: lan, host: host}, 401, "required"},
		{"storage with a cookie", guardTReq{method: "GET", path: "/api/v1/storage", remote: lan, host: host,
			headers: map[string]string{"Cookie": cookie(id)}}, 200, `"min_free": "5%"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := guardTDo(t, h, c.req)
			if code != c.code || !strings.Contains(body, c.msg) {
				t.Errorf("%s %s: %d %.200s, want %d with %q", c.req.method, c.req.path, code, body, c.code, c.msg)
			}
		})
	}
	// The session answers its CSRF token to the page that holds the cookie.
	code, body := guardTDo(t, h, guardTReq{method: "GET", path: "/api/v1/session", remote: lan, host: host, headers: map[string]string{"Cookie": cookie(id)}})
	if code != 200 || !strings.Contains(body, sess.CSRF) || !strings.Contains(body, `"user":"ana"`) {
		t.Errorf("session: %d %s", code, body)
	}
	// Signing out ends the session.
	code, _ = guardTDo(t, h, guardTReq{method: "POST", path: "/api/v1/logout", remote: lan, host: host,
		headers: map[string]string{"Cookie": cookie(id), console.CSRFHeader: sess.CSRF}})
	if code != 200 {
		t.Errorf("logout: %d", code)
	}
	if code, _ := guardTDo(t, h, guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host, headers: map[string]string{"Cookie": cookie(id)}}); code != 401 {
		t.Errorf("read after logout: %d, want 401", code)
	}
}

// A session ends when the config drops or changes what it signed in
// with: the user, their password, the token.
func TestAPIGuardSessionFollowsConfig(t *testing.T) {
	a := consoleTAppliance(t, "tok")
	h := a.apiHandler()
	read := func(id string) int {
		code, _ := guardTDo(t, h, guardTReq{method: "GET", path: "/api/v1/streams", remote: "192.168.1.5:1", host: "box.lan:8080",
			headers: map[string]string{"Cookie": console.CookieName + "=" + id}})
		return code
	}
	login := func(body string) string {
		w := consoleTLogin(t, h, body, nil)
		if w.Code != 200 || len(w.Result().Cookies()) != 1 {
			t.Fatalf("login %s: %d %s", body, w.Code, w.Body)
		}
		return w.Result().Cookies()[0].Value
	}
	user, tok := login(`{"user":"ana","password":"pw"}`), login(`{"token":"tok"}`)
	if read(user) != 200 || read(tok) != 200 {
		t.Fatalf("fresh sessions: %d %d", read(user), read(tok))
	}
	// A new password for ana (a reload), then the token rotated.
	next := *a.cfg
	h2, _ := bcrypt.GenerateFromPassword([]byte("pw2"), bcrypt.MinCost)
	next.HTTP.Users = []console.User{{Name: "ana", PasswordHash: string(h2)}}
	a.mu.Lock()
	a.cfg = &next
	a.mu.Unlock()
	if read(user) != 401 || read(tok) != 200 {
		t.Errorf("after ana's password changed: user session %d (want 401), token session %d (want 200)", read(user), read(tok))
	}
	next2 := next
	next2.HTTP.Token = "tok2"
	a.mu.Lock()
	a.cfg = &next2
	a.mu.Unlock()
	if read(tok) != 401 {
		t.Errorf("after the token changed: token session %d, want 401", read(tok))
	}
}

// Without any credential the console works from loopback as the API
// does, and a cookie does not matter.
func TestAPIGuardConsoleWithoutCredentials(t *testing.T) {
	h := guardTAppliance(t, "").apiHandler()
	code, body := guardTDo(t, h, guardTReq{method: "GET", path: "/api/v1/session", remote: "127.0.0.1:1", host: "127.0.0.1:8080"})
	if code != 200 || !strings.Contains(body, `"auth":"none"`) {
		t.Errorf("session without credentials: %d %s", code, body)
	}
	// There is nothing to sign in to, and from the LAN nothing changes.
	w := consoleTLogin(t, h, `{"user":"ana","password":"pw"}`, nil)
	if w.Code != 403 || len(w.Result().Cookies()) != 0 {
		t.Errorf("login from the LAN without credentials configured: %d %s", w.Code, w.Body)
	}
	code, body = guardTDo(t, h, guardTReq{method: "POST", path: console.LoginPath, remote: "127.0.0.1:1", host: "127.0.0.1:8080",
		headers: map[string]string{"Content-Type": "application/json"}, body: `{"user":"ana","password":"pw"}`})
	if code != 409 || !strings.Contains(body, "nothing to sign in to") {
		t.Errorf("login from loopback without credentials configured: %d %s", code, body)
	}
}
