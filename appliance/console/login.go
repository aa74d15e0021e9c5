package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is one entry of http.users: a name and a bcrypt hash of the
// password (`tapedeck hash-password` or `htpasswd -nbBC 10 NAME PASS`).
type User struct {
	Name         string `mapstructure:"name"`
	PasswordHash string `mapstructure:"password_hash"`
}

// Credentials are what the config lets sign in: the API token and
// users, and how long a sign-in lasts.
type Credentials struct {
	Token      string
	Users      []User
	SessionTTL time.Duration
}

// Configured reports whether any credential is set, i.e. whether
// requests must be authenticated at all.
func (c Credentials) Configured() bool { return c.Token != "" || len(c.Users) > 0 }

// tokenUser is the name a sign-in with the token is shown under. Its
// session is marked byToken, so it is not that of a user so named.
const tokenUser = "token"

// Fingerprint is a hash of what a session signs in with: the user's
// password hash, or the token; ok is false when the config does not have
// it.
func (c Credentials) Fingerprint(user string, byToken bool) (fp [sha256.Size]byte, ok bool) {
	if byToken {
		return sha256.Sum256([]byte("token\x00" + c.Token)), c.Token != ""
	}
	for _, u := range c.Users {
		if u.Name == user {
			return sha256.Sum256([]byte("user\x00" + u.PasswordHash)), true
		}
	}
	return fp, false
}

// Holds reports whether a session's credential is still in the config:
// removing a user, changing their password or the token ends the
// sessions signed in with the old one, at their next request.
func (c Credentials) Holds(s Session) bool {
	fp, ok := c.Fingerprint(s.User, s.byToken)
	return ok && subtle.ConstantTimeCompare(fp[:], s.cred[:]) == 1
}

// loginConcurrency bounds the bcrypt comparisons running at once: each
// takes tens of milliseconds of CPU (more on a Pi), so a flood of sign-in
// attempts gets 429 instead of the box's CPU.
const loginConcurrency = 2

// failDelay is held, with the comparison slot, after a wrong password: it
// slows guessing to about loginConcurrency/failDelay attempts per second.
const failDelay = time.Second

// dummyHash (cost 10, of a password nobody types) is compared against
// when the user is unknown, so that the answer takes as long as for a
// known user with a wrong password. A constant: hashing at start-up would
// cost the start-up budget a bcrypt run.
const dummyHash = "$2a$10$j6AgbLcphFgpWoH4Z9SppescQc5a.I234FTpI7Ed5A1yMBnxuElEO"

// Login serves the sign-in endpoints for the console.
type Login struct {
	Sessions *Sessions
	Creds    func() Credentials
	Log      *slog.Logger
	slots    chan struct{}
}

// NewLogin returns the sign-in endpoints over sessions.
func NewLogin(s *Sessions, creds func() Credentials, log *slog.Logger) *Login {
	return &Login{Sessions: s, Creds: creds, Log: log, slots: make(chan struct{}, loginConcurrency)}
}

// sessionJSON answers GET /api/v1/session and a successful login.
type sessionJSON struct {
	// Auth is how this request is authorized: "none" (no credential is
	// configured: loopback only), "token" (bearer) or "session" (cookie).
	Auth string `json:"auth"`
	User string `json:"user,omitempty"`
	// CSRF must be sent back as X-CSRF-Token on POST and DELETE.
	CSRF    string    `json:"csrf,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// ServeLogin handles POST /api/v1/login with JSON {"user", "password"} or
// {"token"}: on success it sets the session cookie and answers the
// session, with its CSRF token.
func (l *Login) ServeLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil { // size bounded by the guard
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be JSON {"user", "password"} or {"token"}`})
		return
	}
	creds := l.Creds()
	if !creds.Configured() {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "no http.token or http.users configured: nothing to sign in to"})
		return
	}
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
	default:
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many sign-in attempts at once; try again"})
		return
	}
	user, ok := check(creds, req.User, req.Password, req.Token)
	byToken := req.Token != ""
	if !ok {
		l.Log.Warn("console sign-in refused", "user", truncate(req.User), "client", r.RemoteAddr)
		time.Sleep(failDelay)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "wrong user, password or token"})
		return
	}
	fp, _ := creds.Fingerprint(user, byToken)
	id, sess := l.Sessions.Create(user, byToken, fp, creds.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r),
	})
	l.Log.Info("console sign-in", "user", user, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, sessionJSON{Auth: "session", User: user, CSRF: sess.CSRF, Expires: sess.Expires})
}

// check returns who the credentials are, if any is right. The token
// signs in as "token".
func check(c Credentials, user, password, token string) (string, bool) {
	if token != "" {
		return tokenUser, c.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(c.Token)) == 1
	}
	hash := []byte(dummyHash)
	known := false
	for _, u := range c.Users {
		if subtle.ConstantTimeCompare([]byte(u.Name), []byte(user)) == 1 {
			hash, known = []byte(u.PasswordHash), true
		}
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	return user, known && err == nil
}

// ServeLogout handles POST /api/v1/logout: the session ends, the cookie
// is cleared.
func (l *Login) ServeLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		l.Sessions.Delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r)})
	writeJSON(w, http.StatusOK, map[string]string{"result": "signed out"})
}

// ServeSession handles GET /api/v1/session, behind the guard: how the
// request is authorized and, for a cookie, the CSRF token the page needs.
func (l *Login) ServeSession(w http.ResponseWriter, r *http.Request) {
	if !l.Creds().Configured() {
		writeJSON(w, http.StatusOK, sessionJSON{Auth: "none"})
		return
	}
	if sess, ok := l.Sessions.FromRequest(r); ok && l.Creds().Holds(sess) {
		writeJSON(w, http.StatusOK, sessionJSON{Auth: "session", User: sess.User, CSRF: sess.CSRF, Expires: sess.Expires})
		return
	}
	writeJSON(w, http.StatusOK, sessionJSON{Auth: "token"})
}

// overTLS reports whether the browser reached us over HTTPS, directly or
// through a proxy that says so; the cookie is then Secure. (A client
// faking the header only keeps its own cookie from being sent back.)
func overTLS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
