package appliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

// WriteBatch is rtmp.write_batch: "auto", the adaptive merge window (a
// message leaves at once while the players are few; the window grows with
// their number up to 40 ms), or a fixed window (0s sends every message at
// once).
type WriteBatch struct {
	Auto   bool
	Window time.Duration // when not Auto
}

// UnmarshalText parses "auto" or a duration; a bare 0 means 0s.
func (w *WriteBatch) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch s {
	case "auto":
		*w = WriteBatch{Auto: true}
		return nil
	case "0":
		*w = WriteBatch{}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither auto nor a duration (e.g. auto, 0s, 20ms)", s)
	}
	*w = WriteBatch{Window: d}
	return nil
}

// MarshalText writes the form UnmarshalText reads.
func (w WriteBatch) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

func (w WriteBatch) String() string {
	if w.Auto {
		return "auto"
	}
	return w.Window.String()
}

// server is the setting as rtmp.ServerConfig.WriteBatch.
func (w WriteBatch) server() time.Duration {
	switch {
	case w.Auto:
		return 0
	case w.Window == 0:
		return rtmp.NoWriteBatch
	}
	return w.Window
}
