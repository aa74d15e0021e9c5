//go:build linux

package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// hlsStreamBudget is what one stream served over HLS may add to the
// binary's resident memory (docs/hls.md), at the test's 2.4 Mbit/s.
const hlsStreamBudget = 8 << 20

// publishBitrate publishes synthetic H.264+AAC at 25 fps in real time:
// 10 KB frames and a 60 KB keyframe every second (about 2.4 Mbit/s),
// until stop closes.
func publishBitrate(c *rtmp.Client, stop <-chan struct{}, errs chan<- error) {
	if err := c.WriteMessage(remux.KindVideo, 0, testenv.AVCHeader); err != nil {
		errs <- err
		return
	}
	c.WriteMessage(remux.KindAudio, 0, testenv.AACHeader)
	frame := func(key bool, size int) []byte {
		b := []byte{0x27, 0x01, 0, 0, 0}
		nal := byte(0x41)
		if key {
			b[0], nal = 0x17, 0x65
		}
		b = append(b, byte(size>>24), byte(size>>16), byte(size>>8), byte(size), nal)
		return append(b, make([]byte, size-1)...)
	}
	key, inter := frame(true, 60<<10), frame(false, 10<<10)
	start := time.Now()
	audio := 0.0
	for i := 0; ; i++ {
		ts := uint32(i * 40)
		time.Sleep(time.Until(start.Add(time.Duration(ts) * time.Millisecond)))
		for ; audio < float64(ts); audio += 1024.0 * 1000 / 44100 {
			c.WriteMessage(remux.KindAudio, uint32(audio), testenv.AACFrame)
		}
		body := inter
		if i%25 == 0 {
			body = key
		}
		if err := c.WriteMessage(remux.KindVideo, ts, body); err != nil {
			errs <- err
			return
		}
		select {
		case <-stop:
			errs <- nil
			return
		default:
		}
	}
}

var segURI = regexp.MustCompile(`\n(seg\d+\.mp4)\n`)

// hlsClient follows a live playlist like an LL-HLS player until stop:
// every part through the preload hints and, with segments, every new
// full segment as well (as a player without LL-HLS would fetch).
func hlsClient(base string, segments bool, stop <-chan struct{}, errs chan<- error) {
	get := func(u string) ([]byte, error) {
		resp, err := http.Get(base + u)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = &httpStatusError{u, resp.StatusCode}
		}
		return b, err
	}
	pl, err := get("index.m3u8")
	if err != nil {
		errs <- err
		return
	}
	m := hintURI.FindSubmatch(pl)
	if m == nil {
		errs <- &httpStatusError{"index.m3u8 without a preload hint", 0}
		return
	}
	next, _ := strconv.Atoi(string(m[1]))
	seen := map[string]bool{}
	for i := 0; ; i++ {
		select {
		case <-stop:
			errs <- nil
			return
		default:
		}
		if _, err := get("part" + strconv.Itoa(next) + ".mp4"); err != nil {
			errs <- err
			return
		}
		next++
		if segments && i%5 == 4 {
			pl, err := get("index.m3u8")
			if err != nil {
				errs <- err
				return
			}
			for _, s := range segURI.FindAllSubmatch(pl, -1) {
				if u := string(s[1]); !seen[u] {
					seen[u] = true
					if _, err := get(u); err != nil {
						errs <- err
						return
					}
				}
			}
		}
	}
}

type httpStatusError struct {
	what string
	code int
}

func (e *httpStatusError) Error() string { return e.what + ": HTTP " + strconv.Itoa(e.code) }

// TestHLSMemory: five streams at 2.4 Mbit/s served over HLS, one of them
// to 20 clients and the others to one each, add less than
// hlsStreamBudget per stream to the binary's RSS.
func TestHLSMemory(t *testing.T) {
	p := hardStart(t, tapedeckBinary(t), hlsConfig)
	const streams = 5
	stop := make(chan struct{})
	errs := make(chan error, 64)
	running := 0
	defer func() {
		close(stop)
		for range running {
			<-errs
		}
	}()
	for s := range streams {
		c := testenv.PublishRTMP(t, "rtmp://"+p.rtmpAddr+"/live/m"+strconv.Itoa(s))
		running++
		go publishBitrate(c, stop, errs)
	}
	for s := range streams {
		hardWaitPublishing(t, p, "live/m"+strconv.Itoa(s), nil)
	}
	pid := p.cmd.Process.Pid
	peak := func(d time.Duration) int {
		top := 0
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			top = max(top, vmRSS(t, pid))
		}
		return top
	}
	time.Sleep(2 * time.Second)
	before := peak(3 * time.Second)

	clients := 0
	for s := range streams {
		n := 1
		if s == 0 {
			n = 20
		}
		for c := range n {
			clients++
			running++
			go hlsClient("http://"+p.httpAddr+"/hls/live/m"+strconv.Itoa(s)+"/", c%4 == 0, stop, errs)
		}
	}
	after := peak(12 * time.Second)
	select {
	case err := <-errs:
		running--
		if err != nil {
			t.Fatalf("a client or publisher failed: %v", err)
		}
	default:
	}
	added := after - before
	t.Logf("RSS %.1f MiB with %d streams published, %.1f MiB with %d HLS clients on them: %.1f MiB added, %.2f MiB per stream",
		mib(before), streams, mib(after), clients, mib(added), mib(added)/streams)
	if added > streams*hlsStreamBudget {
		t.Errorf("HLS added %.1f MiB for %d streams, over the budget of %d MiB per stream", mib(added), streams, hlsStreamBudget>>20)
	}
}

func mib(n int) float64 { return float64(n) / (1 << 20) }
