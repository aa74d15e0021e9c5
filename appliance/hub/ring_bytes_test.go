package hub

import (
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// camera publishes frames of a 30 fps stream from frame from on, a keyframe
// every gop frames, with AAC frames between them at 48 kHz / 1024, the way
// ffmpeg sends a camera's recording (720p30 2.5 Mbit/s: a 27 KB keyframe,
// 10 KB inter frames, 370 B audio). It returns the payload bytes written.
func camera(p *Publication, from, n, gop, keyBytes, interBytes, audioBytes int) int {
	written := 0
	for i := from; i < from+n; i++ {
		ts := uint32(i * 1000 / 30)
		body := make([]byte, interBytes)
		copy(body, avcInter)
		if i%gop == 0 {
			body = make([]byte, keyBytes)
			copy(body, avcKey)
		}
		p.Write(msg(remux.KindVideo, ts, body))
		written += len(body)
		// The audio frames due before the next video frame.
		for a := (i*48000/30 + 1023) / 1024; a*1024 < (i+1)*48000/30; a++ {
			body := make([]byte, audioBytes)
			copy(body, aacFrame)
			p.Write(msg(remux.KindAudio, uint32(a*1024*1000/48000), body))
			written += len(body)
		}
	}
	return written
}

func heldBytes(s *Stream) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heldBytesLocked()
}

// A recorded stream whose consumer keeps up holds one GOP, in bytes: the
// GOP cache, never the 5 s / 4 MiB lag window behind it. This is the
// hub's share of a recorded stream's memory (docs/performance.md).
func TestStreamHoldsOneGOPInBytes(t *testing.T) {
	const gop, key, inter, audio = 60, 27 << 10, 10 << 10, 370
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	p.Write(msg(remux.KindAudio, 0, aacSeqHeader))
	rec := h.Subscribe("live", "cam1", cfg)
	defer rec.Close()
	s := h.Lookup("live", "cam1")
	gopBytes := 0 // one GOP's video and audio, measured as published
	var most uint64
	for f := 0; f < 5*gop; f++ {
		n := camera(p, f, 1, gop, key, inter, audio)
		if f < gop {
			gopBytes += n
		}
		describe(drain(t, rec))
		held := heldBytes(s)
		most = max(most, held)
		if f%gop == gop-1 && f > gop && held < uint64(gopBytes)*9/10 {
			t.Fatalf("frame %d, the GOP's last: the ring holds %d bytes, want the GOP cache's %d", f, held, gopBytes)
		}
	}
	// One GOP, plus the keyframe that starts the next one and its audio.
	if limit := uint64(gopBytes + key + 2*audio); most > limit {
		t.Errorf("the ring held up to %d bytes with its consumer caught up, want at most one GOP (%d) and a keyframe: %d", most, gopBytes, limit)
	}
	if st := s.Stats(); st.HeldBytes != heldBytes(s) || st.HeldBytes == 0 {
		t.Errorf("Stats.HeldBytes = %d, want the ring's %d", st.HeldBytes, heldBytes(s))
	}
}

// A consumer that stops reading keeps what it has yet to read only up to
// MaxLagBytes: at 20 Mbit/s the 4 MiB bound comes before the 5 s one (12.5
// MB), and the ring never holds more than it plus a frame.
func TestStreamLagBoundInBytes(t *testing.T) {
	const gop, key, inter, audio = 30, 250 << 10, 80 << 10, 370 // 1 s GOPs, ~20 Mbit/s
	h := New(nil)
	cfg := StreamConfig{GOPCache: true}
	p, _ := h.Publish("live", "cam1", cfg, "test")
	p.Write(msg(remux.KindVideo, 0, avcSeqHeader))
	stalled := h.Subscribe("live", "cam1", cfg)
	defer stalled.Close()
	describe(drain(t, stalled)) // the header; then it reads nothing
	s := h.Lookup("live", "cam1")
	lag := uint64(s.cfg.MaxLagBytes)
	if lag != 4<<20 || s.cfg.MaxLagTime.Seconds() != 5 {
		t.Fatalf("defaults %d bytes / %v, this test assumes 4 MiB / 5s", lag, s.cfg.MaxLagTime)
	}
	var most uint64
	for f := 0; f < 8*gop; f++ {
		camera(p, f, 1, gop, key, inter, audio)
		most = max(most, heldBytes(s))
	}
	if limit := lag + key; most > limit {
		t.Errorf("the ring held up to %d bytes for a stalled consumer, want at most MaxLagBytes and a frame: %d", most, limit)
	}
	if most < lag-key {
		t.Errorf("the ring held at most %d bytes, want the lag window (%d) used: the bound must not cut sooner", most, lag)
	}
	describe(drain(t, stalled))
	if stalled.Skips() != 1 {
		t.Errorf("stalled consumer skipped %d times, want once, to the newest keyframe", stalled.Skips())
	}
}
