package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// built is the tapedeck binary, made once per test binary: a go build
// takes long on a loaded machine, and every test runs the same one.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// tapedeckBinary returns the path of the tapedeck binary, built by go
// build into a directory other users may read and enter (a test runs it
// as an unprivileged user). TestMain removes it.
func tapedeckBinary(t testing.TB) string {
	t.Helper()
	goBin := testenv.NeedTool(t, "go") // go test puts its own GOROOT/bin first in PATH
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "tapedeck-e2e-bin-")
		if err == nil {
			built.dir = dir
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			built.err = err
			return
		}
		exe := filepath.Join(dir, "tapedeck")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, goBin, "build", "-o", exe, "github.com/tapedeck/tapedeck").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = exe
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}
