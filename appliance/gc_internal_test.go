package appliance

import (
	"runtime/debug"
	"testing"
)

// tuneGC sets a soft limit of half the machine's memory, and leaves the
// limit alone when GOMEMLIMIT is set.
func TestTuneGC(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	mem := machineMemory()
	limit := tuneGC()
	if mem == 0 {
		t.Skip("machine memory unknown here")
	}
	if limit != int64(float64(mem)*memoryLimitShare) || debug.SetMemoryLimit(-1) != limit {
		t.Errorf("GOMEMLIMIT unset: limit %d, want half of %d", limit, mem)
	}
	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if limit := tuneGC(); limit != 0 || debug.SetMemoryLimit(-1) != 1<<40 {
		t.Errorf("GOMEMLIMIT set: tuneGC set %d, want the limit untouched", limit)
	}
}
