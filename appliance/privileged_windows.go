//go:build windows

package appliance

import "golang.org/x/sys/windows"

func isPrivileged() bool {
	return windows.GetCurrentProcessToken().IsElevated()
}
