package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// TestSkewedTracksAreNotLagging: a source whose video arrives seconds
// after the audio of the same moment (a camera's starved encoder, issue
// 15) is read as it comes by a subscriber that keeps up: it is never
// jumped, and never handed a message twice or an older one of a track.
// Before, the audio's lead over the video counted as lag, and the jump
// went back to the keyframe the subscriber had already read.
func TestSkewedTracksAreNotLagging(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, MaxLagTime: 5 * time.Second}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindAudio, 0, aacSeqHeader))
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	last := map[remux.Kind]int64{remux.KindVideo: -1, remux.KindAudio: -1}
	var back []string
	// 20 s of video at 25 fps, keyframe every second; the audio (every
	// 20 ms) leads it by 0.5 s more each second: 10 s at the end.
	audio := uint32(0)
	for v := uint32(0); v < 20000; v += 40 {
		if v%1000 == 0 {
			p.Write(msg(remux.KindVideo, v, avcKey))
		} else {
			p.Write(msg(remux.KindVideo, v, avcInter))
		}
		for lead := v + v/2; audio <= lead; audio += 20 {
			p.Write(msg(remux.KindAudio, audio, aacFrame))
		}
		for _, m := range drain(t, sub) {
			if m.Kind.IsMedia() && !m.Frame.SequenceHeader {
				if int64(m.Timestamp) <= last[m.Kind] {
					back = append(back, fmt.Sprintf("%v %d after %d", m.Kind, m.Timestamp, last[m.Kind]))
				}
				last[m.Kind] = int64(m.Timestamp)
			}
			m.Release()
		}
	}
	if sub.Skips() != 0 {
		t.Errorf("skips = %d for a subscriber that kept up, want 0", sub.Skips())
	}
	if len(back) > 0 {
		t.Errorf("%d messages repeated or back in time, the first: %v", len(back), back[:min(5, len(back))])
	}
}

// TestLaggingPastKeyframeWaitsForNext: a subscriber that fell behind after
// reading the newest keyframe skips forward to the next one, never back to
// the one it read.
func TestLaggingPastKeyframeWaitsForNext(t *testing.T) {
	h := New(nil)
	cfg := StreamConfig{GOPCache: true, MaxLagTime: 500 * time.Millisecond}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindVideo, 0, avcKey))
	sub := h.Subscribe("live", "cam1", cfg)
	defer sub.Close()
	describe(drain(t, sub))
	// A 2 s GOP; the subscriber reads up to 400 ms, then stalls past the lag bound.
	for ts := uint32(40); ts <= 400; ts += 40 {
		p.Write(msg(remux.KindVideo, ts, avcInter))
	}
	describe(drain(t, sub))
	for ts := uint32(440); ts <= 1200; ts += 40 {
		p.Write(msg(remux.KindVideo, ts, avcInter))
	}
	// Next blocks until the next keyframe: it is what it returns.
	done := make(chan []*remux.Message, 1)
	go func() {
		got, _ := sub.Next(nil)
		done <- got
	}()
	select {
	case got := <-done:
		t.Fatalf("lagging past the newest keyframe got %q, want nothing until the next keyframe", describe(got))
	case <-time.After(200 * time.Millisecond):
	}
	p.Write(msg(remux.KindVideo, 2000, avcKey))
	select {
	case got := <-done:
		if d := describe(got); d != "K2000 " {
			t.Errorf("then got %q, want the keyframe at 2000", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next blocked after the keyframe")
	}
}
