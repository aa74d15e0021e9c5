package vod

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

// ?start= on a stream's timeline: an RFC 3339 time or an offset from now
// picks the timeline position; a time before the first recording starts at
// it, a time in a gap between recordings at the next one, a time after the
// last one plays its last second.
func TestTimelineFrom(t *testing.T) {
	dir := t.TempDir()
	clip := vodTMedia(t, t.TempDir(), "clip.flv") // 8 s
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	// Recordings started at 10:00:00 and 10:01:00: a 52 s gap after the first.
	for _, name := range []string{"2026-11-24_10-00-00.flv", "2026-11-24_10-01-00.flv"} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := func(h, m, s int) time.Time { return time.Date(2026, 11, 24, h, m, s, 0, time.Local) }
	rfc := func(h, m, s int) string { return at(h, m, s).Format(time.RFC3339) }
	probe, err := Open(Target{Path: dir, Rel: "live/cam1", Dir: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := probe.segs[1].offset // where the second recording starts on the timeline
	total := probe.total.Load()
	probe.Close()
	if first < 7900 || first > 8100 {
		t.Fatalf("second recording at %d ms on the timeline, want after the first's 8 s", first)
	}

	tests := []struct {
		name, from string
		now        time.Time
		want       uint32
	}{
		{"RFC 3339 inside the first", rfc(10, 0, 5), at(12, 0, 0), 5000},
		{"RFC 3339 inside the second", rfc(10, 1, 2), at(12, 0, 0), first + 2000},
		{"in the gap: the next recording", rfc(10, 0, 30), at(12, 0, 0), first},
		{"before everything: the first", rfc(9, 0, 0), at(12, 0, 0), 0},
		{"after everything: the last second", rfc(11, 0, 0), at(12, 0, 0), total - 1000},
		{"offset from now", "-1m", at(10, 1, 6), 6000},
		{"offset without its sign", "10m", at(10, 11, 1), first + 1000},
		{"offset before everything", "-10m", at(10, 1, 5), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(Target{Path: dir, Rel: "live/cam1", Dir: true}, Options{From: tt.from, Now: func() time.Time { return tt.now }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.startAt != tt.want {
				t.Errorf("start=%s (now %s): position %d ms, want %d", tt.from, tt.now.Format(time.TimeOnly), s.startAt, tt.want)
			}
		})
	}
	if _, err := Open(Target{Path: dir, Rel: "live/cam1", Dir: true}, Options{From: "yesterday"}); !errors.Is(err, rtmp.ErrStreamNotFound) {
		t.Errorf("start=yesterday: %v, want a refusal (StreamNotFound)", err)
	}
}
