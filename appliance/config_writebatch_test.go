package appliance

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

func TestWriteBatchParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   WriteBatch
		server time.Duration
	}{
		{"auto", WriteBatch{Auto: true}, 0},
		{"0", WriteBatch{}, rtmp.NoWriteBatch},
		{"0s", WriteBatch{}, rtmp.NoWriteBatch},
		{"20ms", WriteBatch{Window: 20 * time.Millisecond}, 20 * time.Millisecond},
	} {
		var w WriteBatch
		if err := w.UnmarshalText([]byte(tc.in)); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if w != tc.want || w.server() != tc.server {
			t.Errorf("%q: got %+v (server %v), want %+v (server %v)", tc.in, w, w.server(), tc.want, tc.server)
		}
		if b, _ := w.MarshalText(); tc.in != "0" && string(b) != tc.in {
			t.Errorf("%q: marshals as %q", tc.in, b)
		}
	}
	var w WriteBatch
	if err := w.UnmarshalText([]byte("soon")); err == nil {
		t.Error(`"soon" accepted`)
	}
}
