package appliance

import (
	"os"
	"testing"
)

// proc(5) lines: comm with a space and a parenthesis, as a process may
// name itself.
var (
	procStatSample = []byte("4242 (tape deck) (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 150 30 0 0 20 0 9 0 123456 734003200 4321 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 3 0 0 0 0 0\n")
	procStatFile   = []byte("cpu  1 2 3 4\nintr 99\nbtime 1764700000\nprocesses 10\n")
)

func TestParseProcStat(t *testing.T) {
	ps, err := parseProcStat(procStatSample, procStatFile)
	if err != nil {
		t.Fatal(err)
	}
	if ps.startTicks != 123456 || ps.vsize != 734003200 || ps.rssPages != 4321 || ps.bootTime != 1764700000 {
		t.Errorf("parsed %+v", ps)
	}
	for _, bad := range [][2][]byte{
		{[]byte("4242 tapedeck S 1"), procStatFile},                  // no comm
		{[]byte("4242 (td) S 1 2 3"), procStatFile},                  // short
		{procStatSample, []byte("cpu 1 2 3\n")},                      // no btime
		{procStatSample, []byte("btime soon\n")},                     // bad btime
		{[]byte("1 (x) S" + string(make([]byte, 30))), procStatFile}, // not numbers
	} {
		if _, err := parseProcStat(bad[0], bad[1]); err == nil {
			t.Errorf("parseProcStat(%q, %q) accepted", bad[0], bad[1])
		}
	}
	// This process's own files parse.
	stat, _ := os.ReadFile("/proc/self/stat")
	boot, _ := os.ReadFile("/proc/stat")
	if _, err := parseProcStat(stat, boot); err != nil {
		t.Errorf("/proc/self/stat of this process: %v", err)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add(procStatSample, procStatFile)
	f.Fuzz(func(t *testing.T, stat, boot []byte) {
		parseProcStat(stat, boot) // must not panic
	})
}
