//go:build windows

package appliance

import "io"

// prepareInstall does nothing on Windows: the service runs as LocalSystem
// and the config's access is the folder's ACL, which install leaves to the
// administrator.
func prepareInstall(string, io.Writer) (string, error) { return "", nil }
