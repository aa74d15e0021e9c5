//go:build !linux

package appliance

// machineMemory is unknown off Linux: no soft memory limit is set there.
func machineMemory() uint64 { return 0 }
