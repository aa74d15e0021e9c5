package appliance_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/recorder"
)

// A segment named before a backward step of the wall clock, with its true
// start in a sidecar (as the recorder writes it): the API dates it by its
// true start, says so, orders it before the segments recorded after the
// step, finds it by ?from= at its true start, and deletes its sidecar with
// it.
func TestAPIRecordingsCorrectedStart(t *testing.T) {
	storage := t.TempDir()
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	old := time.Now().Add(-time.Hour)
	put := func(name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, old, old)
		return p
	}
	stepped := put("2026-12-07_15-00-00.flv") // named a day ahead
	trueStart := time.Date(2026, 12, 6, 15, 0, 0, 0, time.Local)
	os.WriteFile(stepped+recorder.StartSidecarSuffix, []byte(trueStart.Format(time.RFC3339Nano)+"\n"), 0o644)
	put("2026-12-06_15-00-10.flv")
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	type rec struct {
		Path           string
		Start          time.Time
		StartCorrected bool `json:"start_corrected"`
	}
	list := func(query string) []rec {
		t.Helper()
		code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings"+query, "")
		var l []rec
		if err := json.Unmarshal([]byte(out), &l); code != 200 || err != nil {
			t.Fatalf("list: %d %v %s", code, err, out)
		}
		return l
	}
	for _, q := range []string{"", "?app=live&stream=cam1"} {
		l := list(q)
		if len(l) != 2 || l[0].Path != "live/cam1/2026-12-07_15-00-00.flv" || !l[0].Start.Equal(trueStart) || !l[0].StartCorrected || l[1].StartCorrected {
			t.Errorf("list%s: %+v; want the stepped one first, at %v, corrected", q, l, trueStart)
		}
	}
	from := trueStart.Add(-time.Second).Format(time.RFC3339)
	to := trueStart.Add(time.Second).Format(time.RFC3339)
	if l := list("?app=live&stream=cam1&from=" + from + "&to=" + to); len(l) != 1 || l[0].Path != "live/cam1/2026-12-07_15-00-00.flv" {
		t.Errorf("by its true start: %+v", l)
	}
	if code, _, out := apptest.Do(t, a, "DELETE", "/api/v1/recordings/live/cam1/2026-12-07_15-00-00.flv", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if _, err := os.Stat(stepped + recorder.StartSidecarSuffix); !os.IsNotExist(err) {
		t.Errorf("sidecar left after the delete: %v", err)
	}
}
