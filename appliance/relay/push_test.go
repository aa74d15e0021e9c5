package relay

// Pushes to an in-process upstream (tapedeck's own RTMP server): no
// external tools, so these run everywhere.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

func fastOptions(t testing.TB) (Options, *testenv.SyncBuf) {
	log, buf := testLogger(t)
	return Options{
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		DialTimeout: time.Second, WriteTimeout: 2 * time.Second, Logger: log,
	}, buf
}

func statusOf(t testing.TB, m *Manager, app, stream, name string) Status {
	t.Helper()
	for _, s := range m.Status(app, stream) {
		if s.Name == name {
			return s
		}
	}
	return Status{State: "absent"}
}

// checkTimeline asserts what the upstream received over several publish
// sessions is one timeline: monotonic per kind, video without holes, every
// session starting with metadata, headers and then a keyframe.
func checkTimeline(t *testing.T, sessions []*upSession) {
	t.Helper()
	last := map[remux.Kind]uint32{}
	var lastVideo uint32
	haveVideo := false
	for i, s := range sessions {
		recs, _ := s.snapshot()
		if len(recs) == 0 || recs[0].kind != remux.KindData {
			t.Errorf("session %d does not start with metadata: %+v", i, recs[:min(len(recs), 3)])
		}
		firstFrame := true
		for j, r := range recs {
			if r.ts < last[r.kind] {
				t.Errorf("session %d message %d: %v timestamp %d after %d", i, j, r.kind, r.ts, last[r.kind])
			}
			last[r.kind] = r.ts
			if r.kind != remux.KindVideo || r.hdr {
				continue
			}
			if firstFrame && !r.key {
				t.Errorf("session %d: first video frame is not a keyframe", i)
			}
			firstFrame = false
			if haveVideo && r.ts-lastVideo > 500 {
				t.Errorf("session %d message %d: video jumps %d ms", i, j, r.ts-lastVideo)
			}
			lastVideo, haveVideo = r.ts, true
		}
	}
}

// TestPushReconnectsAndKeepsTimeline: the upstream drops the connection;
// the pusher reconnects after the backoff and resumes from the newest
// keyframe with headers, continuing the timestamps. Then the publisher
// restarts within the grace period (its timestamps start at 0 again) and
// the upstream still sees one monotonic timeline on the same connection.
// When the stream ends for good the pusher stops.
func TestPushReconnectsAndKeepsTimeline(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	cfg := hub.StreamConfig{GOPCache: true, RepublishGrace: time.Second}
	f := startFeeder(t, h, "live", "s", cfg, false)
	targets := []Target{{Name: "up", URL: "rtmp://" + up.addr + "/live/{stream}"}}
	m.StreamStarted("live", "s", targets)

	testenv.Eventually(t, 5*time.Second, "video on the upstream", func() bool { return up.videoOf("s", 0) >= 30 })
	if st := statusOf(t, m, "live", "s", "up"); st.State != StateLive || st.Retries != 0 || st.BytesOut == 0 {
		t.Fatalf("status while pushing: %+v", st)
	}
	up.named("s")[0].ci.Disconnect()
	testenv.Eventually(t, 5*time.Second, "the push back after the upstream dropped", func() bool { return up.videoOf("s", 1) >= 30 })
	st := statusOf(t, m, "live", "s", "up")
	if st.State != StateLive || st.Retries < 1 || st.LastError == "" {
		t.Fatalf("status after the reconnect: %+v", st)
	}
	t.Logf("after the upstream dropped: %+v", st)

	// The publisher goes and comes back within the grace period.
	f.end()
	time.Sleep(200 * time.Millisecond)
	n := up.videoOf("s", 1)
	m.StreamStarted("live", "s", targets) // no-op: the pusher runs
	startFeeder(t, h, "live", "s", cfg, false)
	testenv.Eventually(t, 5*time.Second, "the new publisher's video on the upstream", func() bool { return up.videoOf("s", 1) >= n+30 })
	if got := len(up.named("s")); got != 2 {
		t.Errorf("%d upstream sessions, want 2 (the publisher restart must not reconnect)", got)
	}
	checkTimeline(t, up.named("s"))
}

// TestPushStopsWhenStreamEnds: the StreamEnd marker alone keeps the pusher
// waiting through the grace period; the end for good stops it and
// unpublishes upstream.
func TestPushStopsWhenStreamEnds(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	f := startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true, RepublishGrace: 800 * time.Millisecond}, false)
	m.StreamStarted("live", "s", []Target{{URL: "rtmp://" + up.addr + "/live/s"}})
	testenv.Eventually(t, 5*time.Second, "video upstream", func() bool { return up.videoOf("s", 0) >= 10 })
	f.end()
	time.Sleep(300 * time.Millisecond)
	if st := m.Status("live", "s"); len(st) != 1 || st[0].State != StateLive {
		t.Fatalf("pusher did not wait through the grace period: %+v", st)
	}
	testenv.Eventually(t, 3*time.Second, "the pusher to stop", func() bool { return len(m.Status("live", "s")) == 0 })
	testenv.Eventually(t, 3*time.Second, "the upstream publish to end", func() bool { _, closed := up.named("s")[0].snapshot(); return closed })
}

// TestPushEnhancedNeedsUpstreamSupport: an Enhanced RTMP (HEVC) stream is
// not sent to an upstream whose connect reply does not announce it; the
// target is reported incompatible. A publisher coming back with AVC is
// pushed.
func TestPushEnhancedNeedsUpstreamSupport(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	cfg := hub.StreamConfig{GOPCache: true, RepublishGrace: 2 * time.Second}
	f := startFeeder(t, h, "live", "s", cfg, true)
	m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + up.addr + "/live/s"}})
	testenv.Eventually(t, 5*time.Second, "incompatible", func() bool { return statusOf(t, m, "live", "s", "up").State == StateIncompatible })
	st := statusOf(t, m, "live", "s", "up")
	if !strings.Contains(st.LastError, "upstream does not accept hvc1") || !strings.Contains(st.LastError, "Enhanced RTMP") {
		t.Errorf("LastError = %q", st.LastError)
	}
	if st.Refused != "hvc1" || st.Refusals != 1 {
		t.Errorf("Refused %q, Refusals %d; want hvc1, 1", st.Refused, st.Refusals)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(up.named("s")); n != 0 {
		t.Errorf("HEVC was published upstream %d times", n)
	}
	if st := statusOf(t, m, "live", "s", "up"); st.State != StateIncompatible || st.Retries != 0 {
		t.Errorf("incompatible target retried: %+v", st)
	}
	f.end()
	startFeeder(t, h, "live", "s", cfg, false)
	testenv.Eventually(t, 5*time.Second, "AVC pushed after the publisher switched", func() bool { return up.videoOf("s", 0) >= 10 })
	if st := statusOf(t, m, "live", "s", "up"); st.State != StateLive || st.Refused != "" || st.Refusals != 1 {
		t.Errorf("after the switch to AVC: %+v, want live, nothing refused, one refusal counted", st)
	}
	recs, _ := up.named("s")[0].snapshot()
	for _, r := range recs {
		if r.enh {
			t.Fatalf("Enhanced RTMP message reached the upstream: %+v", r)
		}
	}
}

// TestPushSwitchToEnhancedRefused: a stream pushed as AVC whose publisher
// comes back, within the grace period, with HEVC is not sent on to an
// upstream that announced nothing: no Enhanced RTMP tag reaches it, its
// publish ends, and the target is reported incompatible with the codec.
func TestPushSwitchToEnhancedRefused(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	cfg := hub.StreamConfig{GOPCache: true, RepublishGrace: 2 * time.Second}
	f := startFeeder(t, h, "live", "s", cfg, false)
	m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + up.addr + "/live/s"}})
	testenv.Eventually(t, 5*time.Second, "AVC pushed", func() bool { return up.videoOf("s", 0) >= 10 })
	f.end()
	startFeeder(t, h, "live", "s", cfg, true)
	testenv.Eventually(t, 5*time.Second, "incompatible", func() bool { return statusOf(t, m, "live", "s", "up").State == StateIncompatible })
	if st := statusOf(t, m, "live", "s", "up"); st.Refused != "hvc1" || st.Refusals != 1 {
		t.Errorf("status %+v, want hvc1 refused once", st)
	}
	testenv.Eventually(t, 3*time.Second, "the AVC publish upstream to end", func() bool { _, closed := up.named("s")[0].snapshot(); return closed })
	time.Sleep(300 * time.Millisecond)
	for i, sess := range up.named("s") {
		recs, _ := sess.snapshot()
		for _, r := range recs {
			if r.enh {
				t.Fatalf("upstream publish %d received an Enhanced RTMP message: %+v", i, r)
			}
		}
	}
}

// TestPushOpusAudioRefused: H.264 video with Opus audio (Enhanced RTMP
// v2 ExAudioTagHeader) is not sent to an upstream that did not announce
// Opus: not even the video, which it could take, goes out.
func TestPushOpusAudioRefused(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	pub, err := h.Publish("live", "s", hub.StreamConfig{GOPCache: true}, "test feeder")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	meta, vhdr, _, frame, _ := avcStream()
	opusHead := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0}
	write := func(k remux.Kind, ts uint32, p []byte) { pub.Write(remux.NewMessage(k, ts, p)) }
	write(remux.KindData, 0, meta)
	write(remux.KindVideo, 0, vhdr)
	write(remux.KindAudio, 0, append([]byte{0x90, 'O', 'p', 'u', 's'}, opusHead...))
	m.StreamStarted("live", "s", []Target{{Name: "up", URL: "rtmp://" + up.addr + "/live/s"}})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			write(remux.KindVideo, uint32(i*40), frame(i%25 == 0))
			write(remux.KindAudio, uint32(i*40+3), []byte{0x91, 'O', 'p', 'u', 's', 0xfc, 1, 2})
		}
	}()
	testenv.Eventually(t, 5*time.Second, "incompatible", func() bool { return statusOf(t, m, "live", "s", "up").State == StateIncompatible })
	if st := statusOf(t, m, "live", "s", "up"); st.Refused != "Opus" || !strings.Contains(st.LastError, "upstream does not accept Opus") {
		t.Errorf("status %+v, want Opus refused", st)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(up.named("s")); n != 0 {
		t.Errorf("the stream was published upstream %d times", n)
	}
}

// TestPushBlackHoleIsolated: a target that accepts TCP and never answers
// sits in connecting/backoff with a timeout, while the healthy target and a
// local player get every frame.
func TestPushBlackHoleIsolated(t *testing.T) {
	opts, _ := fastOptions(t)
	opts.DialTimeout = 400 * time.Millisecond
	h := hub.New(discardLogger())
	up := startUpstream(t)
	hole := blackHole(t)
	m := NewManager(h, opts)
	defer m.Close()
	f := startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false)
	player := startCounter(t, h, "live", "s")
	m.StreamStarted("live", "s", []Target{
		{Name: "hole", URL: "rtmp://" + hole + "/live/s"},
		{Name: "good", URL: "rtmp://" + up.addr + "/live/s"},
	})
	testenv.Eventually(t, 5*time.Second, "the healthy target live", func() bool { return up.videoOf("s", 0) > 0 })
	start, startFed := up.videoOf("s", 0), f.count()
	time.Sleep(1500 * time.Millisecond)
	got, fed := up.videoOf("s", 0)-start, f.count()-startFed
	if float64(got) < 0.9*float64(fed) {
		t.Errorf("healthy target got %d of %d frames", got, fed)
	}
	frames, gap, _ := player.stats()
	if frames < f.count()-30 || gap > 40 {
		t.Errorf("local player: %d frames of %d, largest gap %d ms", frames, f.count(), gap)
	}
	st := statusOf(t, m, "live", "s", "hole")
	if (st.State != StateConnecting && st.State != StateBackoff) || !strings.Contains(st.LastError, "timeout") || st.Retries < 1 {
		t.Errorf("black hole status: %+v", st)
	}
	t.Logf("black hole: %+v", st)
}

// TestPushSlowTargetSkips: a target behind a congested link (32 KB/s for a
// stream of ~500 KB/s) falls behind; the hub makes it skip to a keyframe
// (counted in Skips) and what it sends stays decodable, while the healthy
// target beside it gets every frame.
func TestPushSlowTargetSkips(t *testing.T) {
	opts, _ := fastOptions(t)
	opts.WriteTimeout = 10 * time.Second // skip, not cut
	h := hub.New(discardLogger())
	up := startUpstream(t)
	slow := slowProxy(t, up.addr, 32<<10)
	m := NewManager(h, opts)
	defer m.Close()
	f := startFeederSized(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false, 10)
	m.StreamStarted("live", "s", []Target{
		{Name: "slow", URL: "rtmp://" + slow + "/live/slow"},
		{Name: "good", URL: "rtmp://" + up.addr + "/live/good"},
	})
	testenv.Eventually(t, 5*time.Second, "both targets live", func() bool { return up.videoOf("good", 0) > 0 && up.videoOf("slow", 0) > 0 })
	start, startFed := up.videoOf("good", 0), f.count()
	testenv.Eventually(t, 10*time.Second, "the slow target to skip", func() bool { return statusOf(t, m, "live", "s", "slow").Skips > 0 })
	got, fed := up.videoOf("good", 0)-start, f.count()-startFed
	if float64(got) < 0.9*float64(fed) {
		t.Errorf("healthy target got %d of %d frames while the slow one lagged", got, fed)
	}
	st := statusOf(t, m, "live", "s", "slow")
	t.Logf("slow target: %+v; healthy: %+v", st, statusOf(t, m, "live", "s", "good"))
	if st.State != StateLive || st.BytesOut >= statusOf(t, m, "live", "s", "good").BytesOut {
		t.Errorf("slow target: %+v", st)
	}
	// After a skip the slow target resumes at a keyframe.
	recs, _ := up.named("slow")[0].snapshot()
	var last uint32
	seen := false
	for _, r := range recs {
		if r.kind != remux.KindVideo || r.hdr {
			continue
		}
		if seen && r.ts-last > 40 && !r.key {
			t.Errorf("slow target resumed at %d ms (after %d) on a non-keyframe", r.ts, last)
		}
		last, seen = r.ts, true
	}
}

// TestAddRemoveAndReload: runtime targets, config reloads that add, drop,
// change and keep targets, and the errors of Add and Remove.
func TestAddRemoveAndReload(t *testing.T) {
	opts, _ := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	m := NewManager(h, opts)
	defer m.Close()
	f := startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true, RepublishGrace: time.Second}, false)
	player := startCounter(t, h, "live", "s")
	u := "rtmp://" + up.addr + "/live/"
	m.StreamStarted("live", "s", []Target{
		{Name: "a", URL: u + "a-{stream}"},
		{Name: "other", URL: u + "other", Streams: []string{"cam*"}},
	})
	testenv.Eventually(t, 5*time.Second, "target a", func() bool { return up.videoOf("a-s", 0) >= 5 })
	if names := statusNames(m); names != "a" {
		t.Fatalf("targets %q, want a (other does not match)", names)
	}

	if err := m.Add("live", "s", Target{Name: "rt", URL: u + "rt"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("live", "s", Target{Name: "rt", URL: u + "rt2"}); !errors.Is(err, ErrExists) {
		t.Errorf("Add of a taken name: %v", err)
	}
	if err := m.Add("live", "nope", Target{URL: u + "x"}); !errors.Is(err, ErrNotLive) {
		t.Errorf("Add to a stream that is not live: %v", err)
	}
	if err := m.Add("live", "s", Target{URL: "http://x/y/z"}); err == nil {
		t.Error("Add of a bad URL accepted")
	}
	if err := m.Add("live", "s", Target{URL: u + "anon"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "runtime targets", func() bool { return up.videoOf("rt", 0) >= 5 && up.videoOf("anon", 0) >= 5 })
	if names := statusNames(m); names != fmt.Sprintf("%s,a,rt", up.addr) {
		t.Errorf("targets %q", names)
	}

	// Reload: a goes, b comes; the runtime targets stay.
	m.SetAppTargets("live", []Target{{Name: "b", URL: u + "b"}})
	testenv.Eventually(t, 5*time.Second, "target b", func() bool { return up.videoOf("b", 0) >= 5 })
	testenv.Eventually(t, 3*time.Second, "target a unpublished", func() bool { _, c := up.named("a-s")[0].snapshot(); return c })
	if names := statusNames(m); names != fmt.Sprintf("%s,b,rt", up.addr) {
		t.Errorf("after reload: targets %q", names)
	}
	// The same list again changes nothing; a changed URL restarts b.
	m.SetAppTargets("live", []Target{{Name: "b", URL: u + "b"}})
	time.Sleep(200 * time.Millisecond)
	if n := len(up.named("b")); n != 1 {
		t.Errorf("unchanged target restarted: %d sessions", n)
	}
	m.SetAppTargets("live", []Target{{Name: "b", URL: u + "b2"}})
	testenv.Eventually(t, 5*time.Second, "target b moved", func() bool { return up.videoOf("b2", 0) >= 5 })

	if err := m.Remove("live", "s", "rt"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("live", "s", "rt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	testenv.Eventually(t, 3*time.Second, "rt unpublished", func() bool { _, c := up.named("rt")[0].snapshot(); return c })

	// The publisher and the local player were never disturbed.
	if _, _, starts := player.stats(); starts != 0 || !h.Lookup("live", "s").Stats().Publishing {
		t.Errorf("publisher disturbed: %d restarts", starts)
	}
	frames, gap, _ := player.stats()
	if frames < f.count()-30 || gap > 40 {
		t.Errorf("local player: %d frames of %d, largest gap %d ms", frames, f.count(), gap)
	}
}

func statusNames(m *Manager) string {
	var names []string
	for _, s := range m.Status("live", "s") {
		names = append(names, s.Name)
	}
	return strings.Join(names, ",")
}

// TestSecretsNeverShown: the stream key and query secrets stay out of the
// status and the log, even when the upstream's error names them.
func TestSecretsNeverShown(t *testing.T) {
	opts, logBuf := fastOptions(t)
	h := hub.New(discardLogger())
	up := startUpstream(t)
	up.deny = func(name string) bool { return strings.HasPrefix(name, "deny") }
	m := NewManager(h, opts)
	defer m.Close()
	startFeeder(t, h, "live", "s", hub.StreamConfig{GOPCache: true}, false)
	const key, token = "deny-0123456789abcdef", "tok-secret-987"
	m.StreamStarted("live", "s", []Target{{Name: "yt", URL: "rtmp://" + up.addr + "/live/" + key + "?token=" + token}})
	testenv.Eventually(t, 5*time.Second, "the refused publish retried", func() bool { return statusOf(t, m, "live", "s", "yt").Retries >= 2 })
	st := statusOf(t, m, "live", "s", "yt")
	t.Logf("status: %+v", st)
	if st.LastError == "" || st.State == StateLive {
		t.Errorf("refused publish not reported: %+v", st)
	}
	for _, secret := range []string{"0123456789abcdef", token} {
		if strings.Contains(fmt.Sprintf("%+v", st), secret) {
			t.Errorf("status shows %q", secret)
		}
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("log shows %q", secret)
		}
	}
}
