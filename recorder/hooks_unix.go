//go:build unix

package recorder

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup runs cmd in a process group of its own, killed as a
// whole when the hook's context ends, so a shell's children go too.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
