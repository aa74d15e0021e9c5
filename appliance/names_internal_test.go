package appliance

import (
	"errors"
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/rtmp"
)

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name, want string // want: "" accepted, else part of the refusal
	}{
		{"cam1", ""},
		{"kamera-äöü", ""},
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("a", 256), "stream name of 256 bytes, the limit is 255"},
		{strings.Repeat("é", 128), "stream name of 256 bytes"}, // bytes, not runes
		{"cam\n1", "control character U+000A"},
		{"cam\x7f", "control character U+007F"},
		{"cam\u0085", "control character U+0085"},
		{"cam\xff", "not UTF-8"},
	} {
		err := checkName("stream", c.name)
		if c.want == "" {
			if err != nil {
				t.Errorf("checkName(%.20q): %v, want accepted", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, rtmp.ErrBadName) {
			t.Errorf("checkName(%.20q) = %v, want an rtmp.ErrBadName with %q", c.name, err, c.want)
		}
	}
	if err := checkRecordingName("live/" + strings.Repeat("s", 255) + "/2026-01-01_00-00-00.mp4"); err != nil {
		t.Errorf("a recording of a 255-byte stream name is refused: %v", err)
	}
	if err := checkRecordingName("live/" + strings.Repeat("s", 256) + "/x.mp4"); err == nil {
		t.Errorf("a recording path element of 256 bytes is accepted")
	}
}
