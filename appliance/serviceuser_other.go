//go:build !linux && !windows

package appliance

import "io"

// ensureServiceUser returns root on macOS and the BSDs: launchd and rc
// run the service as root there, and the config is root:wheel 0640.
func ensureServiceUser(io.Writer) (account, error) { return account{}, nil }
