//go:build !windows

package recorder

import "golang.org/x/sys/unix"

// StatfsUsage is a DiskUsage from statfs(2): the bytes available to an
// unprivileged user (blocks reserved for root excluded) and the file
// system's size.
func StatfsUsage(dir string) (avail, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bavail, blocks, bsize := statfsBlocks(&st)
	return bavail * bsize, blocks * bsize, nil
}
