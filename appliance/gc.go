package appliance

import (
	"os"
	"runtime/debug"
)

// memoryLimitShare of the machine's memory is the collector's soft limit
// when GOMEMLIMIT is not set: near it the collector runs more often rather
// than let the heap grow to twice what is live (GOGC 100), so a Pi with
// many streams does not swap or meet the OOM killer because of headroom.
// A live heap above it is kept, at the cost of more collections.
//
// GOGC stays Go's 100: a recorded stream's heap is its GOP and pooled
// buffers, which allocate almost nothing in the steady state, so the heap
// sits below its GOGC goal between the runtime's 2-minute forced
// collections; 50 and 25 gave no consistent gain in RSS
// (rtmp/internal/loadtest/RESULTS.md).
const memoryLimitShare = 0.5

// tuneGC sets the soft memory limit unless GOMEMLIMIT is set, and returns
// the limit it set (0: none).
func tuneGC() (limit int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	total := machineMemory()
	if total == 0 {
		return 0
	}
	limit = int64(float64(total) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return limit
}
