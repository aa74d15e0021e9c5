package appliance_test

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// hashPW2y and hashPW2a are one bcrypt hash (cost 10) of "pw", as
// htpasswd -nbBC 10 writes it ($2y$) and as x/crypto writes it ($2a$).
const (
	hashPW2y = "$2y$10$5b4oKNBtjNYW1ZGz9Zv8pO/9pMWlSHsQkAQoTL55xLOq.2jSkXFsu"
	hashPW2a = "$2a$10$5b4oKNBtjNYW1ZGz9Zv8pO/9pMWlSHsQkAQoTL55xLOq.2jSkXFsu"
)

func TestConfigConsoleProblems(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"LAN listener without credentials", "http:\n  listen: \":8080\"\n",
			[]string{`http.listen: ":8080" reaches beyond this machine, but neither http.token nor http.users is set: anyone on the network could watch every stream and recording; set one (docs/console.md) or listen on 127.0.0.1`}},
		{"address listener without credentials", "http:\n  listen: \"192.168.1.2:8080\"\n",
			[]string{`http.listen: "192.168.1.2:8080" reaches beyond this machine, but neither http.token nor http.users is set: anyone on the network could watch every stream and recording; set one (docs/console.md) or listen on 127.0.0.1`}},
		{"user without a hash", "http:\n  users:\n    - name: ana\n",
			[]string{"http.users[0].password_hash: must be set (a bcrypt hash: `tapedeck hash-password` or `htpasswd -nbBC 10 NAME PASSWORD`)"}},
		{"plain password instead of a hash", "http:\n  users:\n    - name: ana\n      password_hash: hunter2\n",
			[]string{"http.users[0].password_hash: not a bcrypt hash ($2a$/$2b$/$2y$...): crypto/bcrypt: hashedSecret too short to be a bcrypted password"}},
		{"cheap hash", "http:\n  users:\n    - name: ana\n      password_hash: \"$2a$04$BgK0E4Dv5uFBdo.s1Bhbu.XWRnB/eelvGlnvTp6c2JnVTrfM9G9BG\"\n",
			[]string{"http.users[0].password_hash: bcrypt cost 4 is below 10"}},
		{"user twice and nameless", "http:\n  users:\n    - {name: ana, password_hash: \"" + hashPW2a + "\"}\n    - {name: ana, password_hash: \"" + hashPW2a + "\"}\n    - {password_hash: \"" + hashPW2a + "\"}\n",
			[]string{`http.users[1].name: "ana" is listed twice`, "http.users[2].name: must be set"}},
		{"session_ttl too long", "http:\n  session_ttl: 1000h\n",
			[]string{"http.session_ttl: 1000h0m0s is outside 1s..720h0m0s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, "tapedeck.yaml", c.yaml)
			expectProblems(t, p, p, c.want)
		})
	}
}

// Beyond loopback a token or a user is enough; loopback needs neither.
func TestConfigConsoleAccepted(t *testing.T) {
	for _, y := range []string{
		"http:\n  listen: \":8080\"\n  token: abc\n",
		"http:\n  listen: \"0.0.0.0:8080\"\n  users:\n    - name: ana\n      password_hash: \"" + hashPW2y + "\"\n  session_ttl: 1h\n",
		"http:\n  listen: \"localhost:8080\"\n",
		"http:\n  listen: \"[::1]:8080\"\n",
		"http:\n  listen: \"\"\n",
	} {
		cfg, err := appliance.LoadConfig(writeConfig(t, "tapedeck.yaml", y))
		if err != nil {
			t.Errorf("%q: %v", y, err)
			continue
		}
		if len(cfg.HTTP.Users) == 1 && (cfg.HTTP.Users[0].Name != "ana" || cfg.HTTP.Users[0].PasswordHash != hashPW2y || cfg.HTTP.SessionTTL != time.Hour) {
			t.Errorf("users decoded as %+v, ttl %v", cfg.HTTP.Users, cfg.HTTP.SessionTTL)
		}
	}
}

// A reload that drops every user needs users: [] written out.
func TestConfigConsoleReloadKeepsUsers(t *testing.T) {
	with := "http:\n  users:\n    - name: ana\n      password_hash: \"" + hashPW2a + "\"\n"
	running, err := appliance.LoadConfig(writeConfig(t, "a.yaml", with))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appliance.ReloadConfig(writeConfig(t, "b.yaml", "log:\n  level: info\n"), running); err == nil {
		t.Error("a reload without users: accepted, want refused")
	}
	next, err := appliance.ReloadConfig(writeConfig(t, "c.yaml", "http:\n  users: []\n"), running)
	if err != nil || len(next.HTTP.Users) != 0 {
		t.Errorf("a reload with users: []: %v", err)
	}
}
