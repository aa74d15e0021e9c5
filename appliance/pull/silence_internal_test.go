package pull

import (
	"testing"
	"time"
)

func TestSilenceWatchVideoOnly(t *testing.T) {
	t0 := time.Unix(1000, 0)
	limit := 10 * time.Second
	tests := []struct {
		name  string
		video []bool
		last  []time.Duration // each track's last packet, before t0+limit; -1: none yet
		want  int
	}{
		{"video frozen, audio flowing", []bool{true, false}, []time.Duration{0, limit}, 0},
		{"audio silent, video flowing", []bool{true, false}, []time.Duration{limit, 0}, -1},
		{"audio never sent, video flowing", []bool{false, true}, []time.Duration{-1, limit}, -1},
		{"video never sent yet", []bool{true, false}, []time.Duration{-1, limit}, -1},
		{"audio-only session silent", []bool{false}, []time.Duration{0}, 0},
		{"audio-only session flowing", []bool{false}, []time.Duration{limit}, -1},
		{"second video frozen", []bool{true, true}, []time.Duration{limit, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSilenceWatch(tt.video)
			for i, d := range tt.last {
				if d >= 0 {
					w.packet(i, t0.Add(d))
				}
			}
			if got := w.silent(t0.Add(limit+time.Millisecond), limit); got != tt.want {
				t.Errorf("silent = %d, want %d", got, tt.want)
			}
		})
	}
}
