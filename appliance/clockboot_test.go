//go:build linux

package appliance_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/recorder"
)

// An earlier run of this boot named a segment a year behind the clock (as
// a Pi does before NTP), another boot named one in 1970, both journaled:
// the start renames the first to its true start (within a second, its
// hook told with a rename event) and marks the second unverified in the
// API, on the real boot_id and CLOCK_BOOTTIME.
func TestStartReconcilesClockJournal(t *testing.T) {
	idb, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	var ts unix.Timespec
	if err != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		t.Skip("no boot_id or CLOCK_BOOTTIME")
	}
	const year = 365 * 24 * time.Hour
	storage := t.TempDir()
	opened := time.Now().Add(-30 * time.Second) // its true start
	since := time.Duration(ts.Nano()) - 30*time.Second
	if since < 0 {
		t.Skip("booted less than 30 s ago")
	}
	put := func(named time.Time) string {
		rel := recorder.ExpandTemplate(recorder.DefaultPathTemplate, "live", "cam1", named) + ".flv"
		p := filepath.Join(storage, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, named, named)
		return rel
	}
	wrong := opened.Add(-year).Round(time.Second)
	same := put(wrong)
	other := put(time.Date(1970, 1, 1, 0, 1, 0, 0, time.Local))
	line := func(rel string, named time.Time, boot string, since time.Duration) string {
		return fmt.Sprintf(`{"path":%q,"named":%q,"boot":%q,"since_ns":%d,"app":"live","stream":"cam1","template":%q,"format":"flv"}`+"\n",
			rel, named.Format(time.RFC3339Nano), boot, since, recorder.DefaultPathTemplate)
	}
	journal := line(same, wrong, strings.TrimSpace(string(idb)), since) + line(other, time.Date(1970, 1, 1, 0, 1, 0, 0, time.Local), "an-earlier-boot", time.Minute)
	os.WriteFile(filepath.Join(storage, recorder.BootJournalName), []byte(journal), 0o644)
	out := filepath.Join(t.TempDir(), "hook.txt")
	a, _ := apptest.Start(t, func(c *appliance.Config) {
		c.Storage.Dir = storage
		ac, _ := c.App("live")
		ac.Record.OnSegmentDone = appliance.SegmentHookConfig{Command: []string{"sh", "-c", `echo "$TAPEDECK_EVENT $TAPEDECK_OLD_PATH $TAPEDECK_SEGMENT_PATH" >> "$0"`, out}}
		if c.Apps == nil {
			c.Apps = map[string]appliance.AppConfig{}
		}
		c.Apps["live"] = ac
	})
	code, _, body := apptest.Do(t, a, "GET", "/api/v1/recordings?app=live", "")
	var l []struct {
		Path           string
		Start          time.Time
		TimeUnverified bool `json:"time_unverified"`
	}
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || len(l) != 2 {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	if l[0].Path != other || !l[0].TimeUnverified {
		t.Errorf("first %+v, want %s unverified", l[0], other)
	}
	if d := l[1].Start.Sub(opened); l[1].TimeUnverified || d < -time.Second || d > time.Second || l[1].Path == same {
		t.Errorf("second %+v, want renamed from %s to its true start %v", l[1], same, opened)
	}
	want := fmt.Sprintf("rename %s %s\n", filepath.Join(storage, filepath.FromSlash(same)), filepath.Join(storage, filepath.FromSlash(l[1].Path)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if string(b) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook ran %q, want %q", b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(storage, recorder.BootJournalName)); err == nil {
		// Kept only while this machine's clock is not synchronised.
		b, _ := os.ReadFile(filepath.Join(storage, recorder.BootJournalName))
		if strings.Contains(string(b), "an-earlier-boot") || !strings.Contains(string(b), l[1].Path) {
			t.Errorf("journal after the start:\n%s", b)
		}
	}
}
