// Package testenv runs the third-party programs the end-to-end tests use
// as witnesses — nginx-rtmp as an upstream or source server, GStreamer's
// RTSP server as a camera — and decides whether a missing program skips
// a test (a developer laptop) or fails it (CI=true, where the tools are
// part of the contract). It is imported by tests only.
//
// It also holds what the tests of several of appliance's packages would
// otherwise each write again: a buffer for a process's output or a log
// (SyncBuf), polling (Eventually), ffprobe's JSON (Probe), a synthetic
// H.264/AAC stream (stream.go), our RTMP server and client on loopback
// (ServeRTMP, PublishRTMP, PlayRTMP), and hand-made media (media.go).
// It must not import appliance: the tests of appliance's sub-packages use
// it, and appliance imports them (see apptest for an appliance in tests).
package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Need skips the test when err says a tool or file is missing, or fails
// it under CI=true.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s required under CI: %v", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

// NeedTool returns the path of a program on PATH (see Need).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, name, err)
	return p
}

// NeedFile checks that a file of an apt package is there (see Need).
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	_, err := os.Stat(path)
	Need(t, path+" (apt package "+pkg+")", err)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a listen address, "127.0.0.1:port".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Tail returns the last lines of s.
func Tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
