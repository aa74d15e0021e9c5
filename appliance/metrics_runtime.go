package appliance

import (
	"runtime"
	"runtime/debug"
	"time"
)

// The go_* and process_* families, under the names and meanings of
// Prometheus's client_golang (its Go and process collectors), so that the
// dashboards and alerts built for every Go program work on tapedeck.
// Written by hand: client_golang with those two collectors made the
// stripped linux/arm64 binary 3.5 MB (33%) larger.

// writeRuntimeMetrics writes the go_* families.
func writeRuntimeMetrics(m metricWriter) {
	m.family("go_info", "gauge", "Information about the Go environment.")
	m.sample("go_info", []string{"version", runtime.Version()}, 1)
	// A count that grows with clients gone is a leak.
	m.single("go_goroutines", "gauge", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil) // what pprof's threadcreate counts, without linking pprof
	m.single("go_threads", "gauge", "Number of OS threads created.", float64(threads))

	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	m.family("go_gc_duration_seconds", "summary", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		m.sample("go_gc_duration_seconds", []string{"quantile", q}, gc.PauseQuantiles[i].Seconds())
	}
	m.sample("go_gc_duration_seconds_sum", nil, gc.PauseTotal.Seconds())
	m.sample("go_gc_duration_seconds_count", nil, float64(gc.NumGC))

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, f := range []struct {
		name, typ, help string
		v               float64
	}{
		{"go_memstats_alloc_bytes", "gauge", "Number of bytes allocated in heap and currently in use.", float64(ms.Alloc)},
		{"go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc)},
		{"go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.", float64(ms.Sys)},
		{"go_memstats_mallocs_total", "counter", "Total number of heap objects allocated.", float64(ms.Mallocs)},
		{"go_memstats_frees_total", "counter", "Total number of heap objects frees.", float64(ms.Frees)},
		{"go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc)},
		{"go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system.", float64(ms.HeapSys)},
		{"go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle)},
		{"go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.", float64(ms.HeapInuse)},
		{"go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS.", float64(ms.HeapReleased)},
		{"go_memstats_heap_objects", "gauge", "Number of currently allocated objects.", float64(ms.HeapObjects)},
		{"go_memstats_stack_inuse_bytes", "gauge", "Number of bytes obtained from system for stack allocator in non-CGO environments.", float64(ms.StackInuse)},
		{"go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys)},
		{"go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC)},
		{"go_memstats_last_gc_time_seconds", "gauge", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC) / 1e9},
	} {
		m.single(f.name, f.typ, f.help, f.v)
	}
	writeProcessMetrics(m)
}
