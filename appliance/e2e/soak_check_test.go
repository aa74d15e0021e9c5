//go:build linux

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// What the soak asserts at its end, from the samples and the log.

// Bounds of "flat" after the warm-up: RSS may grow by this fraction of
// its value at the end of the warm-up (the Go heap breathes with the GC
// cycle and a segment's buffers), goroutines and open files by a few
// (an API request, a retention sweep, a segment being swapped).
const (
	soakRSSGrowth     = 0.15
	soakGoroutineSlop = 10
	soakFDSlop        = 5
)

// checkFlat asserts RSS, goroutines and open files stay flat from the
// first sample at or after warm on.
func checkFlat(t *testing.T, samples []soakSample, warm time.Duration) {
	t.Helper()
	i := 0
	for i < len(samples) && samples[i].at < warm {
		i++
	}
	if i >= len(samples)-1 {
		t.Errorf("only %d samples, none after the warm-up of %v to compare with", len(samples), warm)
		return
	}
	base := samples[i]
	t.Logf("baseline at %s: rss %.1f MiB, %d goroutines, %d fds", soakClock(base.at), float64(base.rssKiB)/1024, base.goroutines, base.fds)
	var bad []string
	for _, s := range samples[i+1:] {
		if float64(s.rssKiB) > float64(base.rssKiB)*(1+soakRSSGrowth) {
			bad = append(bad, fmt.Sprintf("%s: RSS %.1f MiB, over +%.0f%% of %.1f MiB", soakClock(s.at), float64(s.rssKiB)/1024, soakRSSGrowth*100, float64(base.rssKiB)/1024))
		}
		if d := s.goroutines - base.goroutines; d > soakGoroutineSlop || d < -soakGoroutineSlop {
			bad = append(bad, fmt.Sprintf("%s: %d goroutines, %+d from %d", soakClock(s.at), s.goroutines, d, base.goroutines))
		}
		if d := s.fds - base.fds; d > soakFDSlop || d < -soakFDSlop {
			bad = append(bad, fmt.Sprintf("%s: %d open files, %+d from %d", soakClock(s.at), s.fds, d, base.fds))
		}
	}
	if len(bad) > 0 {
		t.Errorf("not flat after %s:\n%s", soakClock(base.at), strings.Join(bad, "\n"))
	}
}

// checkService asserts that at every sample the three streams were live,
// nothing failed to write, and the push to nginx was up, and that it never
// had to reconnect.
func checkService(t *testing.T, samples []soakSample) {
	t.Helper()
	var bad []string
	for _, s := range samples {
		if s.streams != 3 || s.writeErrs != 0 || s.relayUp != 1 {
			bad = append(bad, fmt.Sprintf("%s: %.0f streams live (want 3), %.0f write errors, relay_up %.0f", soakClock(s.at), s.streams, s.writeErrs, s.relayUp))
		}
	}
	if len(bad) > 0 {
		t.Errorf("service degraded:\n%s", strings.Join(bad, "\n"))
	}
	if last := samples[len(samples)-1]; last.reconnects != 0 {
		t.Errorf("the push to nginx reconnected %.0f times", last.reconnects)
	}
}

// checkSegments asserts no segment was lost. Every segment the recorder
// opened was closed (SIGTERM closes the last ones); every segment file on
// disk is one of those; every closed segment is on disk or was deleted by
// retention — as many missing as retention reported deleting, and per
// stream only the oldest (retention deletes oldest first, so a hole among
// newer ones is a loss). Per stream the closed segments cover the time the
// stream was live, less the first keyframe and the shutdown.
//
// up is how long the binary ran (a bound on any stream's media: segments
// that overlap exceed it).
func checkSegments(t *testing.T, opened map[string]bool, closed []soakSegment, deleted int, onDisk []string, live, up time.Duration) {
	t.Helper()
	isClosed := map[string]bool{}
	for _, s := range closed {
		isClosed[s.path] = true
	}
	for p := range opened {
		if !isClosed[p] {
			t.Errorf("segment opened, never closed: %s", p)
		}
	}
	present := map[string]bool{}
	for _, p := range onDisk {
		present[p] = true
		if !isClosed[p] {
			t.Errorf("segment on disk the recorder never closed: %s", p)
		}
	}
	byStream := map[string][]soakSegment{}
	for _, s := range closed {
		byStream[s.stream] = append(byStream[s.stream], s)
	}
	missing := 0
	for stream, segs := range byStream {
		var recorded time.Duration
		seenPresent := false
		for _, s := range segs {
			recorded += s.duration
			switch {
			case present[s.path]:
				seenPresent = true
			case seenPresent:
				t.Errorf("%s: segment %s missing while older ones survive: lost, not retention", stream, s.path)
				missing++
			default:
				missing++
			}
		}
		t.Logf("%s: %d segments closed, %v recorded in %v live", stream, len(segs), recorded.Round(time.Second), live.Round(time.Second))
		checkNoOverlap(t, stream, segs, up, soakOverlapJitter)
		if min := live*95/100 - 10*time.Second; recorded < min {
			t.Errorf("%s: %v recorded, want at least %v of %v live", stream, recorded.Round(time.Second), min.Round(time.Second), live.Round(time.Second))
		}
	}
	if len(byStream) != 3 {
		t.Errorf("segments of %d streams, want 3", len(byStream))
	}
	if missing != deleted {
		t.Errorf("%d closed segments are gone, retention deleted %d", missing, deleted)
	}
	if deleted == 0 {
		t.Errorf("retention deleted nothing: the storage was not small enough to exercise it")
	}
}

// Overlap bounds: a segment's start is when its first frame reached the hub
// (the start its "segment opened" line gives, to the nanosecond), so the next one
// may start a little before the previous one's start plus its media
// duration: the jitter of the first frame's delivery, up to 100 ms from a
// camera, more from an ffmpeg publisher whose first frames come in a
// burst late (103 ms seen in a 2-minute trial soak): the soak allows
// soakOverlapJitter. A stream's media may exceed the time the binary ran
// by overlapSlack in all.
const (
	soakOverlapJitter = 500 * time.Millisecond
	overlapSlack      = 2 * time.Second
)

// checkNoOverlap asserts that a stream's segments do not overlap on the
// recordings timeline: each starts no earlier than the previous one's end,
// and together they hold no more media than the time the stream was live
// (segments that overlap record the same moments twice: issue 15's camera
// whose audio stepped back recorded 2h23m in 2 h).
func checkNoOverlap(t *testing.T, stream string, segs []soakSegment, live, jitter time.Duration) {
	t.Helper()
	segs = append([]soakSegment(nil), segs...)
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].start.Before(segs[j].start) })
	var recorded time.Duration
	var bad []string
	for i, s := range segs {
		recorded += s.duration
		if s.start.IsZero() {
			bad = append(bad, fmt.Sprintf("%s: no \"segment opened\" line", s.path))
			continue
		}
		if i == 0 || segs[i-1].start.IsZero() {
			continue
		}
		prev := segs[i-1]
		if end := prev.start.Add(prev.duration); s.start.Before(end.Add(-jitter)) {
			bad = append(bad, fmt.Sprintf("%s starts %v before the end of %s (%s + %v)",
				s.path, end.Sub(s.start).Round(time.Millisecond), prev.path, prev.start.Format("15:04:05.000"), prev.duration))
		}
	}
	if recorded > live+overlapSlack {
		bad = append(bad, fmt.Sprintf("%v of media in %v live", recorded.Round(time.Millisecond), live.Round(time.Millisecond)))
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("... %d more", len(bad)-20))
		}
		t.Errorf("%s: segments overlap:\n%s", stream, strings.Join(bad, "\n"))
	}
}
