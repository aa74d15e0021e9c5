package e2e

import (
	"os"
	"testing"
)

// TestMain tears down what tests share: the appliance and publisher of
// sharedStream, and the tapedeck binary.
func TestMain(m *testing.M) {
	code := m.Run()
	shared.teardown()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
