//go:build windows

package recorder

import "golang.org/x/sys/windows"

// StatfsUsage is a DiskUsage from GetDiskFreeSpaceEx: the bytes available
// to the calling user (quotas applied) and the volume's size. (The name
// is shared with the unix implementation.)
func StatfsUsage(dir string) (avail, total uint64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &totalFree); err != nil {
		return 0, 0, err
	}
	return avail, total, nil
}
