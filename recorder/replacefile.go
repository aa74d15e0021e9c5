package recorder

import (
	"os"
	"path/filepath"
)

// ReplaceFile writes data to path all at once as far as a crash or a power
// cut can tell: into a temporary file beside it, fsynced, renamed over
// path, and the directory fsynced, so path holds either its old content or
// data, never a part. The journals (boot, damage checks, uploads) are
// rewritten this way. A failure leaves path as it was and no temporary
// file behind.
func ReplaceFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}
