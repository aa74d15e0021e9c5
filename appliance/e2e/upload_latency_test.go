//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// latencyProbe publishes a paced synthetic stream and times each video
// frame from its write to the publisher's socket to its arrival in an
// upstream hub (through the box's push relay).
type latencyProbe struct {
	mu   sync.Mutex
	sent map[uint32]time.Time
	got  []sample
}

type sample struct {
	at time.Time
	d  time.Duration
}

// window returns the latencies of frames that arrived in [from, to).
func (p *latencyProbe) window(from, to time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, s := range p.got {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s.d)
		}
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// Uploading does not slow a live push: the box records a ~770 KB/s
// ffmpeg stream and pushes a paced synthetic one to an upstream; the
// push latency (publisher write to upstream hub, per video frame, less
// the relay's constant timestamp offset: see below) is measured for 12 s
// with the S3 server down (no uploads), then for 12 s while the backlog
// goes up at max_rate 2MB. Bound: the median within 10% of the offline
// one, or 5 ms of it (10% of a few ms is below the noise of a shared
// machine).
func TestUploadPushLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s run; skipped with -short")
	}
	testenv.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket("tapes")
	s3.Kill() // offline for the baseline

	upCfg := loadYAML(t, filepath.Join(dir, "up.yaml"), "storage:\n  dir: "+filepath.Join(dir, "up-rec")+"\napps:\n  live:\n    gop_cache: false\n")
	up, _ := apptest.StartConfig(t, upCfg)
	boxCfg := loadYAML(t, filepath.Join(dir, "box.yaml"), fmt.Sprintf(`storage:
  dir: %s
  upload:
    endpoint: %s
    bucket: tapes
    region: us-east-1
    access_key: %s
    secret_key: %s
    path_style: true
    part_size: 5MB
    max_rate: 2MB
apps:
  live:
    republish_grace: 0s
    record:
      segment:
        duration: 5s
    push:
      - name: up
        url: rtmp://%s/live/{stream}
        streams: [lat]
`, filepath.Join(dir, "rec"), s3.Endpoint, testenv.S3AccessKey, testenv.S3SecretKey, up.RTMPAddr()))
	box, _ := apptest.StartConfig(t, boxCfg)
	boxURL := "rtmp://" + box.RTMPAddr().String() + "/live/"

	probe := &latencyProbe{sent: map[uint32]time.Time{}}
	sub := up.Hub().Subscribe("live", "lat", hub.StreamConfig{})
	t.Cleanup(sub.Close)
	go func() {
		var buf []*remux.Message
		for {
			var err error
			buf, err = sub.Next(buf[:0])
			now := time.Now()
			for _, m := range buf {
				if m.Kind == remux.KindVideo {
					probe.mu.Lock()
					if at, ok := probe.sent[m.Timestamp]; ok {
						probe.got = append(probe.got, sample{now, now.Sub(at)})
					}
					probe.mu.Unlock()
				}
				m.Release()
			}
			if err != nil {
				return
			}
		}
	}()

	heavy := startTool(t, 60*time.Second, nil, "ffmpeg", uploadPublisherArgs(boxURL+"cam", 40)...)
	c := testenv.PublishRTMP(t, boxURL+"lat")
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		write := func(k remux.Kind, ts uint32, b []byte) error {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if k == remux.KindVideo {
				probe.mu.Lock()
				probe.sent[ts] = time.Now()
				probe.mu.Unlock()
			}
			return c.WriteMedia(remux.NewMessage(k, ts, b))
		}
		for _, m := range []struct {
			k remux.Kind
			b []byte
		}{{remux.KindData, testenv.Metadata(t)}, {remux.KindVideo, testenv.AVCHeader}, {remux.KindAudio, testenv.AACHeader}} {
			if err := write(m.k, 0, m.b); err != nil {
				done <- err
				return
			}
		}
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			frame := testenv.AVCInterframe
			if i%25 == 0 {
				frame = testenv.AVCKeyframe
			}
			if err := write(remux.KindVideo, uint32(i*40), frame); err != nil {
				done <- err
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()

	// Baseline: recording, pushing, no uploads (the server is down).
	time.Sleep(14 * time.Second)
	t1 := time.Now()
	base := probe.window(t1.Add(-12*time.Second), t1)
	s3.Start()
	box.Reload(boxCfg) // as a reload does: the backlog is tried at once
	testenv.Eventually(t, 10*time.Second, "uploads running", func() bool { return uploadedAny(s3) })
	t2 := time.Now()
	time.Sleep(12 * time.Second)
	during := probe.window(t2, time.Now())
	heavy.stop()

	if len(base) < 200 || len(during) < 200 {
		t.Fatalf("too few frames timed: %d offline, %d uploading", len(base), len(during))
	}
	// The relay starts the upstream's timestamps at the keyframe it
	// joined on: every frame maps to a send time that many ms early. The
	// shortest latency seen is taken as that offset (the true shortest is
	// well under a millisecond on loopback).
	offset := base[0]
	for _, w := range [][]time.Duration{base, during} {
		for i := range w {
			w[i] -= offset
		}
	}
	b50, b95, d50, d95 := pct(base, .5), pct(base, .95), pct(during, .5), pct(during, .95)
	t.Logf("push delay above the fastest frame: offline p50 %v p95 %v p99 %v max %v (%d frames); while uploading p50 %v p95 %v p99 %v max %v (%d frames)",
		b50, b95, pct(base, .99), base[len(base)-1], len(base), d50, d95, pct(during, .99), during[len(during)-1], len(during))
	// The median is held to the bound; the tail is reported, not held: on
	// this shared machine the offline p95 alone swung from 40 to 68 ms
	// between runs.
	if d50 > max(b50+b50/10, b50+5*time.Millisecond) {
		t.Errorf("push latency grew with uploads: p50 %v -> %v (p95 %v -> %v)", b50, d50, b95, d95)
	}
}

// uploadedAny reports whether the bucket holds an object yet.
func uploadedAny(s3 *testenv.S3Server) bool {
	keys, err := s3.Keys("tapes")
	return err == nil && len(keys) > 0
}
