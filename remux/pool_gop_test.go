package remux

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TestPoolHoldsAboutOneGOP replays the message sizes of the recording rows'
// clip (testdata/gop-sizes.txt) for 16 streams whose keyframes come at the
// same moment, as the rows' 16 ffmpeg publishers send them. Each stream
// holds its GOP, as the hub's GOP cache does, and drops it at the next
// keyframe. What the pool allocates over three loops of the clip (buffers
// and Message structs) is what it then holds, ring and spares together:
// 1.24–1.27× the clip's largest GOP per stream, within the 1.29× checked.
// The pool before (quarter octaves, borrowing up to 1.56×) held 1.31×, and
// Go's size classes borrowing up to 1.5× 1.38×.
func TestPoolHoldsAboutOneGOP(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	f, err := os.Open("testdata/gop-sizes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sizes []int
	var keys []bool
	gop, maxGOP := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, num, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(kind, "#") {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "k" {
			maxGOP, gop = max(maxGOP, gop), 0
		}
		gop += n
		sizes, keys = append(sizes, n), append(keys, kind == "k")
	}
	maxGOP = max(maxGOP, gop)

	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection empties sync.Pools
	runtime.GC()
	const streams = 16
	p := NewPool()
	rings := make([][]*Message, streams)
	for i := range rings {
		rings[i] = make([]*Message, 0, len(sizes))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 3 {
		for i, n := range sizes {
			for s := range rings {
				m := p.Get(n)
				if keys[i] {
					for _, old := range rings[s] {
						old.Release()
					}
					rings[s] = rings[s][:0]
				}
				rings[s] = append(rings[s], m)
			}
		}
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / streams
	t.Logf("pool allocated %.0f bytes per stream: %.2f× the largest GOP (%d bytes)", per, per/float64(maxGOP), maxGOP)
	if per > 1.29*float64(maxGOP) {
		t.Errorf("pool allocated %.0f bytes per stream, %.2f× the largest GOP (%d bytes): want at most 1.29×", per, per/float64(maxGOP), maxGOP)
	}
}
