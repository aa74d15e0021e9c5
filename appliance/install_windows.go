//go:build windows

package appliance

import (
	"fmt"
	"io"
)

// prepareInstall only checks the storage dir on Windows: the service runs
// as LocalSystem and the config's access is the folder's ACL, which
// install leaves to the administrator.
func prepareInstall(configPath string, _ io.Writer) (string, error) {
	return "", checkServiceStorage(configPath)
}

// dropPrivileges: the Windows service manager chooses the account.
func dropPrivileges(name string) error {
	return fmt.Errorf("-user %s: not supported on Windows (the service's account is set in the service manager)", name)
}

// fileOwnerMode is left out on Windows, where access is the folder's ACL.
func fileOwnerMode(string) string { return "" }
