package recorder

import (
	"log/slog"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// TestLateHoldBoundedByBytes: the frames kept of a track that stepped back
// hold at most holdMaxBytes of payload however large the frames are, and
// the oldest go first; what is dropped is counted.
func TestLateHoldBoundedByBytes(t *testing.T) {
	r := &recorder{log: slog.New(slog.DiscardHandler), stats: &Stats{}}
	frame := make([]byte, 1<<20) // 1 MiB frames: the count bound alone would keep 512 MiB
	for i := range 20 {
		r.holdLate(0, remux.NewMessage(remux.KindVideo, uint32(i), frame), payload{}, int64(i), -2000)
		if r.lateBytes > holdMaxBytes {
			t.Fatalf("after %d frames %d bytes held, bound %d", i+1, r.lateBytes, holdMaxBytes)
		}
	}
	want := holdMaxBytes / len(frame)
	if len(r.lateHeld) != want || r.lateBytes != want*len(frame) {
		t.Fatalf("held %d frames, %d bytes; want %d frames", len(r.lateHeld), r.lateBytes, want)
	}
	if first := r.lateHeld[0].ext; first != int64(20-want) {
		t.Fatalf("oldest held frame %d, want %d (oldest dropped first)", first, 20-want)
	}
	if d := r.stats.Dropped.Load(); d != int64(20-want) {
		t.Fatalf("dropped %d, want %d", d, 20-want)
	}
	r.endLate(0)
	if len(r.lateHeld) != 0 || r.lateBytes != 0 {
		t.Fatalf("after endLate: %d frames, %d bytes held", len(r.lateHeld), r.lateBytes)
	}
}
