//go:build !unix

package recorder

import "os/exec"

// ownProcessGroup: elsewhere the context kills the command's own process
// (and WaitDelay bounds the wait for children holding its output).
func ownProcessGroup(cmd *exec.Cmd) {}
