//go:build linux

package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain tears down what tests share: the appliance and publisher of
// sharedStream, and the tapedeck binary.
func TestMain(m *testing.M) {
	// -short skips every end-to-end test: they build the binary and run
	// real clients for seconds to minutes each (README: "What go test
	// needs").
	flag.Parse()
	if testing.Short() {
		fmt.Println("appliance/e2e: end-to-end tests skipped with -short")
		os.Exit(0)
	}
	code := m.Run()
	shared.teardown()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
