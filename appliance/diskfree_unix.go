//go:build !windows

package appliance

import "golang.org/x/sys/unix"

// freeBytes reports the bytes available to us on dir's file system.
func freeBytes(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
