//go:build !windows && !linux

package recorder

import "golang.org/x/sys/unix"

// statfsBlocks for the BSDs and macOS (FreeBSD's counts are signed: a
// negative bavail, root's reserve in use, is no space at all).
func statfsBlocks(st *unix.Statfs_t) (bavail, blocks, bsize uint64) {
	return uint64(max(int64(st.Bavail), 0)), uint64(st.Blocks), uint64(st.Bsize)
}
