package appliance

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// maxSessionTTL caps http.session_ttl: a stolen cookie should not outlive
// a month.
const maxSessionTTL = 30 * 24 * time.Hour

// checkConsole validates the console's sign-in keys under http: users
// (unique names, bcrypt hashes), session_ttl, and refuses an HTTP
// listener that reaches beyond this machine with no credential at all —
// every stream, recording and the console would be open to the network.
// ":8080" (all interfaces) and host names other than localhost count as
// beyond.
func checkConsole(bad badFunc, h HTTPConfig) {
	seen := map[string]bool{}
	for i, u := range h.Users {
		key := fmt.Sprintf("http.users[%d]", i)
		switch {
		case u.Name == "":
			bad(key+".name", "must be set")
		case strings.ContainsFunc(u.Name, func(r rune) bool { return r < ' ' || r == 0x7f }):
			bad(key+".name", "%q has control characters", u.Name)
		case seen[u.Name]:
			bad(key+".name", "%q is listed twice", u.Name)
		}
		seen[u.Name] = true
		if u.PasswordHash == "" {
			bad(key+".password_hash", "must be set (a bcrypt hash: `tapedeck hash-password` or `htpasswd -nbBC 10 NAME PASSWORD`)")
		} else if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			bad(key+".password_hash", "not a bcrypt hash ($2a$/$2b$/$2y$...): %v", err)
		} else if cost < 10 {
			bad(key+".password_hash", "bcrypt cost %d is below 10", cost)
		}
	}
	if h.SessionTTL <= 0 || h.SessionTTL > maxSessionTTL {
		bad("http.session_ttl", "%v is outside 1s..%v", h.SessionTTL, maxSessionTTL)
	}
	if h.Listen != "" && h.Token == "" && len(h.Users) == 0 && !loopbackHost(h.Listen) {
		bad("http.listen", "%q reaches beyond this machine, but neither http.token nor http.users is set: "+
			"anyone on the network could watch every stream and recording; set one (docs/console.md) or listen on 127.0.0.1", h.Listen)
	}
}

// usersReloadProblem refuses a reload that drops every console user while
// the file does not say `users: []`: a cut-off save must not open the
// console (the same rule as for http.token).
func usersReloadProblem(old, next *Config, doc map[string]any) []string {
	if len(old.HTTP.Users) == 0 || len(next.HTTP.Users) > 0 {
		return nil
	}
	if v, ok := docValue(doc, "http", "users"); ok {
		if l, isList := v.([]any); isList && len(l) == 0 {
			return nil
		}
	}
	return []string{"http.users: the running config has console users and this file gives none; write users: [] to remove them on purpose"}
}
