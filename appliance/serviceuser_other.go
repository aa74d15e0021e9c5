//go:build !linux && !windows

package appliance

import (
	"fmt"
	"io"
	"runtime"
)

// ensureServiceUser returns root on macOS and the BSDs: launchd and rc
// run the service as root there, and the config is root:wheel 0640.
func ensureServiceUser(io.Writer) (account, error) { return account{}, nil }

// dropPrivileges is not needed where launchd and rc switch users
// themselves; run -user is refused rather than ignored.
func dropPrivileges(name string) error {
	return fmt.Errorf("-user %s: not supported on %s", name, runtime.GOOS)
}
