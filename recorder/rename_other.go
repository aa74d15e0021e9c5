//go:build !linux

package recorder

// renameNoReplace moves old to new, failing with fs.ErrExist when new is
// taken (checked first: not atomic here).
func renameNoReplace(old, new string) error { return renameChecked(old, new) }
