package appliance

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of the clock ticks in /proc (USER_HZ): 100 on every
// Linux architecture tapedeck is built for.
const userHZ = 100

// writeProcessMetrics writes the process_* families from /proc/self and
// getrusage/getrlimit. A source that cannot be read leaves its families
// out rather than reporting zeros.
func writeProcessMetrics(m metricWriter) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		m.single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.single("process_open_fds", "gauge", "Number of open file descriptors.", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.single("process_max_fds", "gauge", "Maximum number of open file descriptors.", float64(lim.Cur))
	}
	stat, err1 := os.ReadFile("/proc/self/stat")
	boot, err2 := os.ReadFile("/proc/stat")
	if err1 != nil || err2 != nil {
		return
	}
	ps, err := parseProcStat(stat, boot)
	if err != nil {
		return
	}
	page := float64(os.Getpagesize())
	m.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", float64(ps.vsize))
	m.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float64(ps.rssPages)*page)
	m.single("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
		float64(ps.bootTime)+float64(ps.startTicks)/userHZ)
}

// procStat is what process metrics take from /proc/self/stat and /proc/stat.
type procStat struct {
	startTicks uint64 // field 22: start time after boot, in USER_HZ ticks
	vsize      uint64 // field 23: bytes
	rssPages   uint64 // field 24: pages
	bootTime   uint64 // /proc/stat btime: seconds since the epoch
}

var errProcStat = errors.New("/proc/self/stat: unexpected format")

// parseProcStat reads /proc/self/stat (proc(5): "pid (comm) state ...",
// where comm may hold spaces and parentheses, so fields are counted
// after its last ')') and the btime line of /proc/stat.
func parseProcStat(stat, procStatFile []byte) (procStat, error) {
	var ps procStat
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ps, errProcStat
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return ps, errProcStat
	}
	var err error
	num := func(field int) uint64 {
		v, e := strconv.ParseUint(string(f[field-3]), 10, 64)
		if e != nil {
			err = errProcStat
		}
		return v
	}
	ps.startTicks, ps.vsize, ps.rssPages = num(22), num(23), num(24)
	if err != nil {
		return ps, err
	}
	for _, line := range bytes.Split(procStatFile, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			if ps.bootTime, err = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); err != nil {
				return ps, errors.New("/proc/stat: bad btime")
			}
			return ps, nil
		}
	}
	return ps, errors.New("/proc/stat: no btime")
}
