package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The table never holds more than its bound; the sessions that go first
// are those that would expire first; expired ones are refused.
func TestSessionsBounded(t *testing.T) {
	s := NewSessions(3)
	short, _ := s.Create("a", false, [32]byte{}, time.Minute)
	var long []string
	for range 3 {
		id, _ := s.Create("b", false, [32]byte{}, time.Hour)
		long = append(long, id)
	}
	if s.Len() != 3 {
		t.Errorf("%d sessions held, want the bound 3", s.Len())
	}
	if _, ok := s.Lookup(short); ok {
		t.Error("the session expiring first survived a sign-in beyond the bound")
	}
	for _, id := range long {
		if sess, ok := s.Lookup(id); !ok || sess.User != "b" || len(sess.CSRF) != 43 {
			t.Errorf("session %q: %+v %v", id, sess, ok)
		}
	}
	now := time.Now()
	s.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, ok := s.Lookup(long[0]); ok {
		t.Error("an expired session was accepted")
	}
	if s.Len() != 2 {
		t.Errorf("the expired session stayed in the table: %d", s.Len())
	}
	if _, ok := s.Lookup(""); ok {
		t.Error("an empty cookie was accepted")
	}
}

// htpasswd's $2y$ hashes and x/crypto's $2a$ ones both sign in; a
// wrong password, an unknown user or a wrong token do not.
func TestCheckCredentials(t *testing.T) {
	const h = "$2a$10$5b4oKNBtjNYW1ZGz9Zv8pO/9pMWlSHsQkAQoTL55xLOq.2jSkXFsu" // "pw"
	c := Credentials{Token: "tok", Users: []User{{"ana", h}, {"bo", strings.Replace(h, "$2a$", "$2y$", 1)}}}
	for _, x := range []struct {
		user, pw, token string
		ok              bool
	}{
		{"ana", "pw", "", true}, {"bo", "pw", "", true}, {"ana", "pW", "", false}, {"cy", "pw", "", false},
		{"", "", "tok", true}, {"", "", "tok ", false}, {"ana", "", "", false},
	} {
		if _, ok := check(c, x.user, x.pw, x.token); ok != x.ok {
			t.Errorf("check(%q, %q, token %q) = %v, want %v", x.user, x.pw, x.token, ok, x.ok)
		}
	}
	if _, ok := check(Credentials{}, "", "", "x"); ok {
		t.Error("a token was accepted with none configured")
	}
}

// The shell has no data and is locked down: CSP, no framing, nosniff.
func TestHandlerShell(t *testing.T) {
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	h := w.Header()
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="viewport"`) || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/: %d %v", w.Code, h)
	}
	for _, f := range []string{"/assets/app.js", "/assets/style.css", "/assets/hls.light.min.js", "/assets/hls.js-LICENSE.txt"} {
		w := httptest.NewRecorder()
		Handler().ServeHTTP(w, httptest.NewRequest("GET", f, nil))
		if w.Code != 200 || w.Body.Len() < 100 {
			t.Errorf("%s: %d, %d bytes", f, w.Code, w.Body.Len())
		}
	}
}
