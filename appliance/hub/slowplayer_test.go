package hub_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// hubHandler serves a hub over RTMP the way the appliance does, minus
// authentication and recording.
type hubHandler struct {
	h   *hub.Hub
	cfg hub.StreamConfig
}

func (hh hubHandler) OnConnect(*rtmp.ConnInfo) error { return nil }
func (hh hubHandler) OnPublish(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Publisher, error) {
	return hh.h.Publish(ci.App, req.Name, hh.cfg, "test")
}
func (hh hubHandler) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	return hh.h.Subscribe(ci.App, req.Name, hh.cfg), nil
}

// Video bodies: an AVC tag header, then the send time (unix ns) and the
// frame number, padded to 100 KB (20 Mbit/s at 25 fps: the 3 s stall is
// more than the 4 MB a loopback socket's send buffer grows to).
const slowFrameBytes = 100 << 10

func slowFrame(n uint64, key bool) []byte {
	b := make([]byte, slowFrameBytes)
	b[0], b[1] = 0x27, 0x01
	if key {
		b[0] = 0x17
	}
	binary.BigEndian.PutUint64(b[5:], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[13:], n)
	return b
}

type seen struct {
	frame uint64
	key   bool
	lat   time.Duration
}

// play reads video until ctx ends; stall (if set) is closed to make it stop
// reading until resume is closed.
func play(ctx context.Context, t *testing.T, url string, cfg rtmp.ClientConfig, stall, resume <-chan struct{}, out chan<- []seen) {
	c, name, err := rtmp.Dial(ctx, url, cfg)
	if err != nil {
		t.Error(err)
		out <- nil
		return
	}
	defer c.Close()
	if err := c.Play(ctx, name); err != nil {
		t.Error(err)
		out <- nil
		return
	}
	go func() { <-ctx.Done(); c.NetConn().Close() }()
	var got []seen
	for {
		select {
		case <-stall:
			<-resume
			stall = nil
		default:
		}
		m, err := c.ReadMedia()
		if err != nil {
			out <- got
			return
		}
		if m.Kind == remux.KindVideo && len(m.Payload) >= 21 && m.Payload[1] == 1 {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Payload[5:])))
			got = append(got, seen{binary.BigEndian.Uint64(m.Payload[13:]), m.Payload[0]>>4 == 1, time.Since(sent)})
		}
		m.Release()
	}
}

// TestSlowPlayerDoesNotDelayOthers: a player that stops reading (its
// socket buffers a few KB) is skipped to a keyframe once it is past the lag
// bound, while the players that keep reading get every frame, in time.
// Both writers: a goroutine per player (the default) and the stream's
// shared writer (rtmp.ServerConfig.SharedWriter), which hands the stalled
// player back to its goroutine when its socket fills.
func TestSlowPlayerDoesNotDelayOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time stream of several seconds")
	}
	t.Run("writer=goroutines", func(t *testing.T) { testSlowPlayer(t, rtmp.ServerConfig{}) })
	t.Run("writer=shared", func(t *testing.T) { testSlowPlayer(t, rtmp.ServerConfig{SharedWriter: true}) })
}

func testSlowPlayer(t *testing.T, cfg rtmp.ServerConfig) {
	h := hub.New(nil)
	srv := rtmp.NewServer(cfg, hubHandler{h, hub.StreamConfig{GOPCache: true, MaxLagTime: time.Second}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "rtmp://" + ln.Addr().String() + "/live/slow"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := pub.ReadCommand(); err != nil {
				return
			}
		}
	}()
	if err := pub.WriteMessage(remux.KindVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteMessage(remux.KindVideo, 0, slowFrame(0, true)); err != nil {
		t.Fatal(err)
	}

	playCtx, stopPlay := context.WithCancel(ctx)
	defer stopPlay()
	const good = 3
	results := make(chan []seen, good)
	for range good {
		go play(playCtx, t, url, rtmp.ClientConfig{}, nil, nil, results)
	}
	// The slow player's own receive buffer is small.
	small := func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = setRcvBuf(fd, 4096) })
		return serr
	}
	stall, resume := make(chan struct{}), make(chan struct{})
	slowResult := make(chan []seen, 1)
	go play(playCtx, t, url, rtmp.ClientConfig{Control: small}, stall, resume, slowResult)

	// 6 s at 25 fps, a keyframe every 10 frames; the slow player stops
	// reading from 1 s to 4 s, three times the lag bound.
	const frames = 150
	start := time.Now()
	for n := uint64(1); n <= frames; n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * 40 * time.Millisecond)))
		if err := pub.WriteMessage(remux.KindVideo, uint32(n*40), slowFrame(n, n%10 == 0)); err != nil {
			t.Fatal(err)
		}
		switch n {
		case 25:
			close(stall)
		case 100:
			close(resume)
		}
	}
	time.Sleep(300 * time.Millisecond)
	skips := h.Lookup("live", "slow").Stats().Skips
	stopPlay()

	var lats, during, outside []time.Duration
	for range good {
		got := <-results
		// Every frame from the first one played to the end, in order.
		for i := 1; i < len(got); i++ {
			if got[i].frame != got[i-1].frame+1 {
				t.Errorf("a reading player went from frame %d to %d", got[i-1].frame, got[i].frame)
				break
			}
		}
		if len(got) == 0 || got[len(got)-1].frame != frames {
			t.Errorf("a reading player got %d frames, not up to %d", len(got), frames)
		}
		for _, s := range got {
			lats = append(lats, s.lat)
			if s.frame > 25 && s.frame <= 100 {
				during = append(during, s.lat)
			} else {
				outside = append(outside, s.lat)
			}
		}
	}
	p99 := func(l []time.Duration) time.Duration {
		if len(l) == 0 {
			return 0
		}
		slices.Sort(l)
		return l[len(l)*99/100]
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		t.Logf("reading players: latency p50 %v, p99 %v, max %v over %d frames; p99 while one stalls %v, otherwise %v",
			lats[len(lats)/2], p99(lats), lats[len(lats)-1], len(lats), p99(during), p99(outside))
		// A player blocked behind the stalled one would be up to 3 s late
		// while it stalls. What the machine's load adds (this runs beside
		// other test packages under -race) shows outside the stall too, so
		// the stall's own cost is the difference; the goal is 10 ms p99 on
		// a quiet machine (the load benchmark measures that), the bound
		// here leaves room for the scheduler.
		if d, o := p99(during), p99(outside); d > o+100*time.Millisecond || d > time.Second {
			t.Errorf("reading players' p99 latency %v while one player stalls, %v otherwise: the stalled player delays them", d, o)
		}
	}

	slow := <-slowResult
	jump := -1
	for i := 1; i < len(slow); i++ {
		if slow[i].frame != slow[i-1].frame+1 {
			jump = i
			break
		}
	}
	switch {
	case jump < 0:
		t.Errorf("the stalled player got frames %d..%d without a skip", slow[0].frame, slow[len(slow)-1].frame)
	case !slow[jump].key:
		t.Errorf("the stalled player resumed at frame %d, not a keyframe", slow[jump].frame)
	default:
		t.Logf("the stalled player skipped from frame %d to keyframe %d", slow[jump-1].frame, slow[jump].frame)
	}
	if skips == 0 {
		t.Error("the stream counted no skip")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("test timed out")
	}
}
