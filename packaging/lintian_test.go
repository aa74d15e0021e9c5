package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDebLintian runs lintian on the amd64 package: no error may remain
// (the one override, statically-linked-binary, is shipped with its reason
// in packaging/deb/lintian-overrides), and every warning must be listed
// with its justification in packaging/README.md, so that a new one is
// either fixed or explained.
func TestDebLintian(t *testing.T) {
	skipShort(t)
	lintian := needTool(t, "lintian")
	deb := debPackage(t, "amd64")
	out, _ := run(t, 5*time.Minute, lintian, "--tag-display-limit", "0", deb)
	t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
	readme, err := os.ReadFile(filepath.Join(art.root, "packaging", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9.+-]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	tags := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || len(f[0]) != 2 || f[0][1] != ':' || f[1] != "tapedeck:" {
			continue // "running with root privileges..." and the like
		}
		tags++
		switch f[0] {
		case "E:":
			t.Errorf("lintian error: %s", line)
		case "W:":
			if !listed[f[2]] {
				t.Errorf("lintian warning not listed in packaging/README.md (fix it, or list it with why): %s", line)
			}
		}
	}
	if strings.Contains(out, "E: ") && tags == 0 {
		t.Errorf("lintian failed:\n%s", out)
	}
}
