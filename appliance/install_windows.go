//go:build windows

package appliance

import "io"

// prepareInstall only checks the storage dir on Windows: the service runs
// as LocalSystem and the config's access is the folder's ACL, which
// install leaves to the administrator.
func prepareInstall(configPath string, _ io.Writer) (string, error) {
	return "", checkServiceStorage(configPath)
}
