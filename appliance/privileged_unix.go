//go:build !windows

package appliance

import "os"

func isPrivileged() bool { return os.Geteuid() == 0 }
