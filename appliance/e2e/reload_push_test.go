//go:build linux

package e2e

// A reload applies the push targets of the wildcard app "*" to the live
// streams they match, like those of a named app, keeping the precedence
// of Config.App: an app's own entry replaces "*" whole.

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// pacedPublisher publishes url with the Go client at 25 fps (a keyframe
// a second, audio with every frame) until the test ends; failed reports
// a write that failed.
type pacedPublisher struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func startPacedPublisher(t *testing.T, url string) *pacedPublisher {
	t.Helper()
	c := testenv.PublishRTMP(t, url) // closed at the end, after p.end (registered later, run first)
	p := &pacedPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		write := func(k remux.Kind, ts uint32, b []byte) bool {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.WriteMedia(remux.NewMessage(k, ts, b)); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return false
			}
			return true
		}
		if !write(remux.KindData, 0, testenv.Metadata(t)) || !write(remux.KindVideo, 0, testenv.AVCHeader) || !write(remux.KindAudio, 0, testenv.AACHeader) {
			return
		}
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			ts := uint32(i * 40)
			frame := testenv.AVCInterframe
			if i%25 == 0 {
				frame = testenv.AVCKeyframe
			}
			if !write(remux.KindVideo, ts, frame) || !write(remux.KindAudio, ts+20, testenv.AACFrame) {
				return
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.end)
	return p
}

func (p *pacedPublisher) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *pacedPublisher) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func TestReloadWildcardPush(t *testing.T) {
	dir := t.TempDir()

	// The upstream: another appliance.
	upCfg := loadYAML(t, filepath.Join(dir, "up.yaml"), "storage:\n  dir: "+filepath.Join(dir, "up-rec")+"\napps:\n  live:\n    gop_cache: true\n")
	up, _ := apptest.StartConfig(t, upCfg)
	upURL := "rtmp://" + up.RTMPAddr().String() + "/live/"
	upPublishing := func(name string) bool {
		s := up.Hub().Lookup("live", name)
		return s != nil && s.Stats().Publishing
	}

	// The appliance: live/cam falls under "*"; studio has its own entry
	// (without push), which replaces "*" for its streams.
	base := "storage:\n  dir: " + filepath.Join(dir, "rec") + "\napps:\n  studio:\n    gop_cache: true\n"
	wildcard := func(push string) string {
		return base + "  \"*\":\n    gop_cache: true\n" + push
	}
	cfg1 := loadYAML(t, filepath.Join(dir, "one.yaml"), wildcard(""))
	a, _ := apptest.StartConfig(t, cfg1)
	rtmpURL := "rtmp://" + a.RTMPAddr().String() + "/"
	reload := func(name, yaml string) {
		t.Helper()
		cfg := loadYAML(t, filepath.Join(dir, name), yaml)
		cfg.RTMP.Listen = cfg1.RTMP.Listen
		a.Reload(cfg)
	}

	pub := startPacedPublisher(t, rtmpURL+"live/cam")
	studio := startPacedPublisher(t, rtmpURL+"studio/cam2")
	testenv.Eventually(t, 5*time.Second, "both publishes live", func() bool {
		for _, k := range [][2]string{{"live", "cam"}, {"studio", "cam2"}} {
			s := a.Hub().Lookup(k[0], k[1])
			if s == nil || !s.Stats().Publishing || s.Stats().MessagesIn < 10 {
				return false
			}
		}
		return true
	})
	since := a.Hub().Lookup("live", "cam").Stats().Since

	// Adding a "*" target pushes the running live/cam.
	reload("two.yaml", wildcard(fmt.Sprintf("    push:\n      - name: up\n        url: %s{stream}\n", upURL)))
	testenv.Eventually(t, 5*time.Second, "live/cam pushed to the upstream", func() bool { return upPublishing("cam") })
	testenv.Eventually(t, 5*time.Second, "video on the upstream", func() bool {
		return up.Hub().Lookup("live", "cam").Stats().MessagesIn >= 20
	})
	// studio has its own entry: "*" targets are not its own.
	time.Sleep(500 * time.Millisecond)
	if up.Hub().Lookup("live", "cam2") != nil {
		t.Errorf("studio/cam2 pushed by a \"*\" target although studio has its own entry")
	}

	// Changing the target's URL moves the push.
	reload("three.yaml", wildcard(fmt.Sprintf("    push:\n      - name: up\n        url: %salt-{stream}\n", upURL)))
	testenv.Eventually(t, 5*time.Second, "live/cam pushed to the changed URL", func() bool { return upPublishing("alt-cam") })
	testenv.Eventually(t, 5*time.Second, "the push to the old URL stopped", func() bool { return !upPublishing("cam") })

	// Removing it stops the push.
	reload("four.yaml", wildcard(""))
	testenv.Eventually(t, 5*time.Second, "the push stopped", func() bool { return !upPublishing("alt-cam") })

	// A "*" target does not apply once the app has an entry of its own.
	reload("five.yaml", wildcard(fmt.Sprintf("    push:\n      - name: up\n        url: %s{stream}\n", upURL)))
	testenv.Eventually(t, 5*time.Second, "live/cam pushed again", func() bool { return upPublishing("cam") })
	reload("six.yaml", wildcard(fmt.Sprintf("    push:\n      - name: up\n        url: %s{stream}\n", upURL))+"  live:\n    gop_cache: true\n")
	testenv.Eventually(t, 5*time.Second, "the push stopped for live's own entry", func() bool { return !upPublishing("cam") })

	// The publishers were never touched.
	for _, p := range []*pacedPublisher{pub, studio} {
		if err := p.failed(); err != nil {
			t.Errorf("publisher write failed: %v", err)
		}
	}
	if st := a.Hub().Lookup("live", "cam").Stats(); !st.Publishing || !st.Since.Equal(since) {
		t.Errorf("live/cam publish disturbed by the reloads: %+v (since %v before)", st, since)
	}
}
