package upload

import (
	"strings"
	"testing"
	"time"
)

// A prefix that CheckPrefix accepts, expanded with any app and stream
// names (the recorder makes them one path element), gives a key that
// neither starts with / nor climbs with .. .
func FuzzObjectKey(f *testing.F) {
	f.Add("{box}/{YYYY}/{MM}/", "live", "cam1", "pi")
	f.Add("", "a", "b", "")
	f.Add("{app}{stream}/", "..", "x/y", "b/x")
	f.Fuzz(func(t *testing.T, prefix, app, stream, box string) {
		if CheckPrefix(prefix) != nil || strings.Contains(box, "..") || strings.HasPrefix(box, "/") {
			return
		}
		tg := Target{Prefix: prefix, Box: box}
		key := tg.objectKey("live/cam/a.mp4", app, stream, time.Unix(0, 0).UTC())
		if strings.HasPrefix(key, "/") && prefix != "" {
			t.Fatalf("prefix %q app %q stream %q: key %q starts with /", prefix, app, stream, key)
		}
		for _, el := range strings.Split(key, "/") {
			if el == ".." {
				t.Fatalf("prefix %q app %q stream %q: key %q climbs", prefix, app, stream, key)
			}
		}
	})
}
