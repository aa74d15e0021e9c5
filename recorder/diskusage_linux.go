package recorder

import "golang.org/x/sys/unix"

// statfsBlocks: on Linux block counts are in units of f_frsize.
func statfsBlocks(st *unix.Statfs_t) (bavail, blocks, bsize uint64) {
	bsize = uint64(st.Frsize)
	if bsize == 0 {
		bsize = uint64(st.Bsize)
	}
	return st.Bavail, st.Blocks, bsize
}
