//go:build linux

package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// latencyFrame is an AVC frame body whose one NAL unit ends in the frame's
// number, so a client can tell which published frame a part carries.
func latencyFrame(i uint32, key bool) []byte {
	b := []byte{0x27, 0x01, 0, 0, 0, 0, 0, 0, 8, 0x41, 0x9a, 0x02, 0x00}
	if key {
		b = []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 8, 0x65, 0x88, 0x84, 0x00}
	}
	return binary.BigEndian.AppendUint32(b, i)
}

var (
	latencyMarkers = [][]byte{{0, 0, 0, 8, 0x65, 0x88, 0x84, 0x00}, {0, 0, 0, 8, 0x41, 0x9a, 0x02, 0x00}}
	hintURI        = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.mp4"`)
)

// framesIn returns the frame numbers a part's samples carry.
func framesIn(part []byte) []uint32 {
	var out []uint32
	for _, mk := range latencyMarkers {
		for b := part; ; {
			i := bytes.Index(b, mk)
			if i < 0 || len(b) < i+len(mk)+4 {
				break
			}
			out = append(out, binary.BigEndian.Uint32(b[i+len(mk):]))
			b = b[i+len(mk)+4:]
		}
	}
	return out
}

// TestHLSLatency measures LL-HLS latency end to end on the built binary:
// our RTMP client publishes 25 fps frames that carry their number, paced
// in real time, and an LL-HLS client follows the preload hints (each part
// asked for before it exists, as hls.js does); a frame's latency is from
// its write to the RTMP socket to the end of the part that carries it
// arriving. It reports the median and p95 (docs/hls.md has the figures)
// and fails past 1 s median or 2 s p95.
func TestHLSLatency(t *testing.T) {
	p := hardStart(t, tapedeckBinary(t), hlsConfig)
	c := testenv.PublishRTMP(t, "rtmp://"+p.rtmpAddr+"/live/lat")
	if err := c.WriteMessage(remux.KindVideo, 0, testenv.AVCHeader); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(remux.KindAudio, 0, testenv.AACHeader); err != nil {
		t.Fatal(err)
	}
	const fps, seconds = 25, 16
	var mu sync.Mutex
	sent := map[uint32]time.Time{}
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		start := time.Now()
		audio := 0.0
		for i := uint32(0); i < fps*seconds; i++ {
			ts := i * 1000 / fps
			time.Sleep(time.Until(start.Add(time.Duration(ts) * time.Millisecond)))
			for ; audio < float64(ts); audio += 1024.0 * 1000 / 44100 {
				if err := c.WriteMessage(remux.KindAudio, uint32(audio), testenv.AACFrame); err != nil {
					pubDone <- err
					return
				}
			}
			if err := c.WriteMessage(remux.KindVideo, ts, latencyFrame(i, i%fps == 0)); err != nil {
				pubDone <- err
				return
			}
			mu.Lock()
			sent[i] = time.Now()
			mu.Unlock()
			select {
			case <-stop:
				pubDone <- nil
				return
			default:
			}
		}
		pubDone <- nil
	}()
	defer func() { close(stop); <-pubDone }()
	hardWaitPublishing(t, p, "live/lat", nil)

	base := "http://" + p.httpAddr + "/hls/live/lat/"
	code, pl := hardRequest(t, "GET", base+"index.m3u8", nil, "")
	m := hintURI.FindStringSubmatch(pl)
	if code != http.StatusOK || m == nil {
		t.Fatalf("playlist: %d\n%s", code, pl)
	}
	next, _ := strconv.Atoi(m[1])
	// Frames from before the client followed the live edge came out of
	// the GOP cache: they measure the cache, not the latency.
	follow := time.Now()
	var lat []time.Duration
	var perPart []time.Duration // from the part's first frame
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "part" + strconv.Itoa(next) + ".mp4")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := time.Now()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("part%d: %d %v", next, resp.StatusCode, err)
		}
		next++
		frames := framesIn(body)
		sort.Slice(frames, func(i, j int) bool { return frames[i] < frames[j] })
		mu.Lock()
		for k, f := range frames {
			if at, ok := sent[f]; ok && at.After(follow) {
				lat = append(lat, got.Sub(at))
				if k == 0 {
					perPart = append(perPart, got.Sub(at))
				}
			}
		}
		mu.Unlock()
	}
	if len(lat) < 150 {
		t.Fatalf("only %d frames received over LL-HLS parts in 10 s", len(lat))
	}
	med, p95 := percentile(lat, 50), percentile(lat, 95)
	t.Logf("LL-HLS latency over %d frames in %d parts: median %v, p95 %v; from a part's first frame: median %v, p95 %v",
		len(lat), len(perPart), med, p95, percentile(perPart, 50), percentile(perPart, 95))
	if med > time.Second || p95 > 2*time.Second {
		t.Errorf("latency median %v, p95 %v; want <= 1s, <= 2s", med, p95)
	}
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}
