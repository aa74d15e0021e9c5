//go:build linux

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// The soak's load: a publisher that runs for the whole soak, and players
// that come and go.

// soakPublisher runs ffmpeg publishing to url until ctx ends: 640x360 at
// 25 fps, ~1.8 Mbit/s H.264 and 128 kbit/s AAC, in real time. lavfi's
// sources never end, so one ffmpeg lasts the whole soak; if it exits
// anyway (the server dropped it) it is counted and started again, so
// that the rest of the soak still has its load.
type soakPublisher struct {
	restarts atomic.Int64
	mu       sync.Mutex
	lastErr  string
	done     chan struct{}
}

func startSoakPublisher(ctx context.Context, ffmpeg, url string) *soakPublisher {
	p := &soakPublisher{done: make(chan struct{})}
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-pix_fmt", "yuv420p",
		"-b:v", "1800k", "-maxrate", "1800k", "-bufsize", "1800k",
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", url}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			out := &testenv.SyncBuf{Max: 64 << 10}
			cmd := exec.CommandContext(ctx, ffmpeg, args...)
			cmd.Stdout, cmd.Stderr = out, out
			err := cmd.Run()
			if ctx.Err() != nil {
				return
			}
			p.restarts.Add(1)
			p.mu.Lock()
			p.lastErr = fmt.Sprintf("%v: %s", err, testenv.Tail(out.String(), 5))
			p.mu.Unlock()
			time.Sleep(2 * time.Second)
		}
	}()
	return p
}

func (p *soakPublisher) lastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// soakPlayers are players that join and leave the streams at random.
// Every session lies inside a sampling interval and ends quiet before the
// next sample, so that a sample sees the appliance with the fixed load
// only (publish, pulls, recorder, push): what a departed player left
// behind — a goroutine, a file descriptor, memory — then shows in the
// figures instead of drowning in the count of players present.
type soakPlayers struct {
	urls []string // the streams played, one picked per session
	// ffmpegURLs are the streams the ffmpeg players pick from: the H.264
	// ones, as ffmpeg before 6.1 cannot read HEVC over (Enhanced) RTMP.
	ffmpegURLs []string
	ffmpeg     string // the ffmpeg players' binary
	start      time.Time
	every      time.Duration // the sampling interval
	quiet      time.Duration // no player is connected this long before a sample

	sessions atomic.Int64 // sessions ended
	failures atomic.Int64 // sessions that could not start or stalled
	mu       sync.Mutex
	failed   []string // the first failures
	wg       sync.WaitGroup
}

// run starts n players until ctx ends; the first ffmpegs of them are
// ffmpeg (stream copy to -f null), the rest our Go client, which costs
// far less CPU.
func (p *soakPlayers) run(ctx context.Context, n, ffmpegs int) {
	for i := range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.player(ctx, rand.New(rand.NewPCG(uint64(i), uint64(p.start.UnixNano()))), i < ffmpegs)
		}()
	}
}

func (p *soakPlayers) wait() { p.wg.Wait() }

// player plays sessions of random length on random streams, with random
// gaps, each inside the window of its sampling interval.
func (p *soakPlayers) player(ctx context.Context, rng *rand.Rand, useFFmpeg bool) {
	const minSession = 3 * time.Second
	jitter := func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
	for ctx.Err() == nil {
		k := time.Since(p.start) / p.every
		windowStart := p.start.Add(k * p.every)
		windowEnd := windowStart.Add(p.every - p.quiet)
		var wait time.Duration
		switch {
		case time.Until(windowStart.Add(time.Second)) > 0:
			wait = time.Until(windowStart.Add(time.Second)) + jitter(2*time.Second)
		case time.Until(windowEnd) < minSession:
			wait = time.Until(windowEnd.Add(p.quiet+time.Second)) + jitter(2*time.Second)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		length := minSession + jitter(time.Until(windowEnd)-minSession+1)
		urls := p.urls
		if useFFmpeg {
			urls = p.ffmpegURLs
		}
		url := urls[rng.IntN(len(urls))]
		var err error
		if useFFmpeg {
			err = p.playFFmpeg(ctx, url, length)
		} else {
			err = playGo(ctx, url, length)
		}
		if ctx.Err() != nil {
			return
		}
		p.sessions.Add(1)
		if err != nil {
			p.failures.Add(1)
			p.mu.Lock()
			if len(p.failed) < 20 {
				p.failed = append(p.failed, fmt.Sprintf("%s %s: %v", soakClock(time.Since(p.start)), url, err))
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500*time.Millisecond + jitter(5*time.Second)):
		}
	}
}

// failures returns the first failed sessions.
func (p *soakPlayers) failedSessions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.failed...)
}

// playGo plays url with our RTMP client for length: it must start within
// 10 s and never wait 5 s for a message.
func playGo(ctx context.Context, url string, length time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The Go players watch the H.265 camera too, which (issue 16) goes
	// only to players that announce hvc1: they announce what a current
	// Enhanced RTMP player (gortmplib) does.
	c, name, err := rtmp.Dial(dctx, url, rtmp.ClientConfig{Timeout: 5 * time.Second,
		ConnectProps: amf.Object{{Key: "fourCcList", Value: gortmplibFourCcList}}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Play(dctx, name); err != nil {
		return err
	}
	end := time.Now().Add(length)
	n := 0
	for time.Now().Before(end) && ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.ReadMedia()
		if err != nil {
			return fmt.Errorf("after %d messages: %w", n, err)
		}
		m.Release()
		n++
	}
	return nil
}

// playFFmpeg plays url with ffmpeg for length of media, copying to the
// null muxer (no decoding: cheap). It is killed 5 s after length, inside
// the quiet time before the next sample.
func (p *soakPlayers) playFFmpeg(ctx context.Context, url string, length time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, length+5*time.Second)
	defer cancel()
	out := &testenv.SyncBuf{Max: 16 << 10}
	cmd := exec.CommandContext(ctx, p.ffmpeg, "-hide_banner", "-loglevel", "error", "-rw_timeout", "5000000",
		"-i", url, "-t", strconv.FormatFloat(length.Seconds(), 'f', 1, 64), "-c", "copy", "-f", "null", "-")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg: %v: %s", err, testenv.Tail(out.String(), 3))
	}
	return nil
}
