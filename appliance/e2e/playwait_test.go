//go:build linux

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Playing a stream nobody publishes: the log says "waiting for
// publisher" once; with apps.<app>.play_wait the wait ends in
// NetStream.Play.StreamNotFound (ffmpeg exits with an error, our client's
// Play fails), and a publisher that comes within it starts the play.
// Without play_wait the play starts at once and waits attached.
func TestPlayWaitBinary(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	p := hardStart(t, tapedeckBinary(t), `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
storage:
  dir: "{storage}"
apps:
  live:
    play_wait: 2s
  forever:
    gop_cache: true
`)
	base := "rtmp://" + p.rtmpAddr

	// A real player: ffmpeg gives up with the server's error.
	r := runTool(t, 20*time.Second, nil, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", base+"/live/nobody", "-f", "null", "-")
	if r.interrupted || r.exitCode == 0 {
		t.Errorf("ffmpeg on a stream nobody publishes: %s, want an error exit", r.status())
	}
	if r.elapsed < 1900*time.Millisecond || r.elapsed > 10*time.Second {
		t.Errorf("ffmpeg gave up after %v, want play_wait (2s)", r.elapsed)
	}
	if e := r.stderr.String(); !strings.Contains(e, "nobody published live/nobody within apps.live.play_wait") {
		t.Errorf("ffmpeg's error does not carry the server's reason:\n%s", e)
	}

	dial := func(name string) (*rtmp.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, n, err := rtmp.Dial(ctx, base+"/"+name, rtmp.ClientConfig{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, c.Play(ctx, n)
	}

	// Our client: Play fails with StreamNotFound after play_wait.
	start := time.Now()
	if _, err := dial("live/nobody2"); err == nil || !strings.Contains(err.Error(), "NetStream.Play.StreamNotFound") {
		t.Errorf("play of a stream nobody publishes: %v, want NetStream.Play.StreamNotFound", err)
	} else if el := time.Since(start); el < 1900*time.Millisecond {
		t.Errorf("refused after %v, before play_wait (2s)", el)
	}

	// A publisher within play_wait: the play starts and media flows.
	type played struct {
		c   *rtmp.Client
		err error
	}
	got := make(chan played, 1)
	go func() {
		c, err := dial("live/late")
		got <- played{c, err}
	}()
	hardWaitLog(t, p, `msg="waiting for publisher" app=live stream=late`, 5*time.Second)
	pub := testenv.PublishRTMP(t, base+"/live/late")
	for _, m := range []struct {
		k remux.Kind
		b []byte
	}{{remux.KindData, testenv.Metadata(t)}, {remux.KindVideo, testenv.AVCHeader}, {remux.KindVideo, testenv.AVCKeyframe}} {
		if err := pub.WriteMessage(m.k, 0, m.b); err != nil {
			t.Fatal(err)
		}
	}
	pl := <-got
	if pl.err != nil {
		t.Fatalf("play with a publisher arriving within play_wait: %v", pl.err)
	}
	pl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if m, err := pl.c.ReadMedia(); err != nil {
		t.Errorf("no media after the wait: %v", err)
	} else {
		m.Release()
	}

	// play_wait 0: Play.Start at once, the player waits attached.
	start = time.Now()
	if _, err := dial("forever/nobody"); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("play without play_wait: %v after %v, want Play.Start at once", err, time.Since(start))
	}

	hardWaitLog(t, p, `msg="waiting for publisher" app=forever stream=nobody`, 5*time.Second)
	log := p.logs.String()
	for _, stream := range []string{"app=live stream=nobody ", "app=live stream=nobody2 ", "app=live stream=late ", "app=forever stream=nobody "} {
		if n := strings.Count(log, `msg="waiting for publisher" `+stream); n != 1 {
			t.Errorf("%d waiting for publisher lines for %s, want 1", n, stream)
		}
	}
	if n := strings.Count(log, `msg="play refused"`); n != 2 {
		t.Errorf("%d play refused lines, want 2 (nobody, nobody2)", n)
	}
}
