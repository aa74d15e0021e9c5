//go:build linux

package hub_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// BenchmarkServerFanout is the whole path of one published message to N
// real RTMP players over loopback (publisher read, hub, the players'
// writes, the clients' reads), in lockstep: the next message is published
// only once every player got the previous one, so every message is one
// write per player whichever writer runs (no merging) and the comparison
// is the cost of those writes. writer=goroutines is a goroutine woken per
// player per message (the default), writer=shared the stream's shared
// writer (rtmp.ServerConfig.SharedWriter, rtmp/fanout.go). cpu-ns/msg/player is the
// process's CPU time (clients included, the same in both) per message
// per player.
func BenchmarkServerFanout(b *testing.B) {
	for _, n := range []int{1, 100} {
		for _, w := range []string{"goroutines", "shared"} {
			b.Run(fmt.Sprintf("players=%d/writer=%s", n, w), func(b *testing.B) {
				benchServerFanout(b, n, w == "goroutines")
			})
		}
	}
}

func benchServerFanout(b *testing.B, players int, perPlayer bool) {
	h := hub.New(nil)
	srv := rtmp.NewServer(rtmp.ServerConfig{SharedWriter: !perPlayer}, hubHandler{h, hub.StreamConfig{GOPCache: true, MaxLagTime: 5 * time.Second}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "rtmp://" + ln.Addr().String() + "/live/bench"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, name); err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			if _, err := pub.ReadCommand(); err != nil {
				return
			}
		}
	}()
	frame := make([]byte, 8<<10) // 2.5 Mbit/s at 30 fps is ~10 KB a frame
	frame[0], frame[1] = 0x27, 0x01
	key := append([]byte{0x17, 0x01}, frame[2:]...)
	if err := pub.WriteMessage(remux.KindVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}); err != nil {
		b.Fatal(err)
	}
	if err := pub.WriteMessage(remux.KindVideo, 0, key); err != nil {
		b.Fatal(err)
	}

	var got, target atomic.Int64
	done := make(chan struct{}, 1)
	target.Store(int64(players)) // the GOP cache's keyframe
	for range players {
		c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Play(ctx, name); err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				m, err := c.ReadMedia()
				if err != nil {
					return
				}
				if m.Kind == remux.KindVideo && len(m.Payload) > 1 && m.Payload[1] == 1 {
					if got.Add(1) == target.Load() {
						done <- struct{}{}
					}
				}
				m.Release()
			}
		}()
	}
	wait := func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Fatalf("players got %d frames, want %d", got.Load(), target.Load())
		}
	}
	wait()
	cpu0 := processCPU()
	b.ResetTimer()
	ts := uint32(0)
	for b.Loop() {
		ts += 33
		target.Add(int64(players))
		if err := pub.WriteMessage(remux.KindVideo, ts, frame); err != nil {
			b.Fatal(err)
		}
		wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*players), "cpu-ns/msg/player")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*players), "ns/msg/player")
}

// processCPU is the process's user and system CPU time so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
