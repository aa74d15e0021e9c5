package appliance

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The printed hash checks the password of stdin's first line, at the
// cost the config check wants; an empty stdin is a usage error.
func TestCmdHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cmdHashPassword(strings.NewReader("c0rrect horse\nsecond line\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	h := []byte(strings.TrimSpace(out.String()))
	if err := bcrypt.CompareHashAndPassword(h, []byte("c0rrect horse")); err != nil {
		t.Errorf("hash %s does not check the password: %v", h, err)
	}
	if c, err := bcrypt.Cost(h); err != nil || c != 10 {
		t.Errorf("cost %d %v, want 10", c, err)
	}
	out.Reset()
	if code := cmdHashPassword(strings.NewReader(""), &out, &errb); code != 2 || out.Len() != 0 {
		t.Errorf("empty stdin: exit %d, printed %q", code, out.String())
	}
}
