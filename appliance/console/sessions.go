package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// CookieName is the session cookie the console's login sets.
const CookieName = "tapedeck_session"

// CSRFHeader carries a session's CSRF token on requests that change
// state; a page of another origin cannot set it without a CORS preflight,
// which is never answered, nor read the token to put in it.
const CSRFHeader = "X-CSRF-Token"

// Session is one signed-in browser.
type Session struct {
	User    string
	CSRF    string // sent back in CSRFHeader on requests that change state
	Expires time.Time
	// cred is a hash of the credential signed in with (the user's password
	// hash, or the token): a session ends when the config changes it.
	cred    [sha256.Size]byte
	byToken bool
}

// Sessions is the bounded table of signed-in browsers. Only a hash of
// each cookie value is kept, so the table (a heap dump, a log of it) does
// not hold usable cookies. The zero value is not usable; see NewSessions.
type Sessions struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]Session
}

// NewSessions makes a table that holds at most max sessions: a new
// sign-in beyond max ends the session that would expire first, so
// sign-ins cannot grow memory without bound.
func NewSessions(max int) *Sessions {
	return &Sessions{max: max, now: time.Now, byID: make(map[[sha256.Size]byte]Session)}
}

// randomToken is 256 random bits in URL-safe base64.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Create starts a session for user, lasting ttl, and returns its cookie
// value. cred is the fingerprint of what the user signed in with (the
// token when byToken): the session holds only while the config still
// has it (Credentials.Holds, Credentials.Fingerprint).
func (s *Sessions) Create(user string, byToken bool, cred [sha256.Size]byte, ttl time.Duration) (id string, sess Session) {
	id = randomToken()
	now := s.now()
	sess = Session{User: user, CSRF: randomToken(), Expires: now.Add(ttl), cred: cred, byToken: byToken}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	for len(s.byID) >= s.max {
		var first [sha256.Size]byte
		var at time.Time
		for k, v := range s.byID {
			if at.IsZero() || v.Expires.Before(at) {
				first, at = k, v.Expires
			}
		}
		delete(s.byID, first)
	}
	s.byID[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// pruneLocked drops expired sessions.
func (s *Sessions) pruneLocked(now time.Time) {
	for k, v := range s.byID {
		if !now.Before(v.Expires) {
			delete(s.byID, k)
		}
	}
}

// Lookup returns the live session of a cookie value.
func (s *Sessions) Lookup(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[key]
	if ok && !s.now().Before(sess.Expires) {
		delete(s.byID, key)
		return Session{}, false
	}
	return sess, ok
}

// FromRequest returns the live session of the request's cookie.
func (s *Sessions) FromRequest(r *http.Request) (Session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return Session{}, false
	}
	return s.Lookup(c.Value)
}

// Delete ends the session of a cookie value.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(id)))
}

// Len is the number of sessions held (expired ones included until the
// next sign-in prunes them).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// CSRFValid reports whether the request carries the session's CSRF token.
func CSRFValid(r *http.Request, sess Session) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// MaxSessions bounds the sign-ins held at once: a household or a small
// team signs in from a few devices each.
const MaxSessions = 256
