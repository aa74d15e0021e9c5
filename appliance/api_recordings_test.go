package appliance_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// Files under storage.dir are listed, served with range requests (so a
// browser <video> can seek), and deleted; nothing outside can be reached.
func TestAPIRecordings(t *testing.T) {
	storage := t.TempDir()
	a, _ := apiTStart(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	body := []byte("0123456789abcdefghij")
	file := filepath.Join(dir, "2026-11-24_10-00-00.mp4")
	os.WriteFile(file, body, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret.mp4")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape.mp4"))

	code, _, out := apiTDo(t, a, "GET", "/api/v1/recordings?app=live&stream=cam1", "")
	if code != 200 {
		t.Fatalf("list: %d %s", code, out)
	}
	var list []struct {
		Path, App, Stream, Format string
		Start                     time.Time
		Bytes                     int64
		Open                      bool
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range list {
		if r.Path == "live/cam1/2026-11-24_10-00-00.mp4" {
			found = true
			want := time.Date(2026, 11, 24, 10, 0, 0, 0, time.Local)
			if r.App != "live" || r.Stream != "cam1" || r.Format != "mp4" || r.Bytes != 20 || !r.Start.Equal(want) || !r.Open {
				t.Errorf("listed %+v", r)
			}
		}
		if strings.HasSuffix(r.Path, ".txt") {
			t.Errorf("non-recording listed: %s", r.Path)
		}
	}
	if !found {
		t.Fatalf("recording not listed: %s", out)
	}
	if code, _, out := apiTDo(t, a, "GET", "/api/v1/recordings?app=other", ""); code != 200 || strings.TrimSpace(out) != "[]" {
		t.Errorf("filtered list: %d %s", code, out)
	}

	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr().String()+"/api/v1/recordings/live/cam1/2026-11-24_10-00-00.mp4", nil)
	req.Header.Set("Range", "bytes=5-9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != "56789" || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("range request: %d %q %q", resp.StatusCode, got, resp.Header.Get("Content-Type"))
	}

	for _, p := range []string{
		"/api/v1/recordings/live/cam1/escape.mp4",     // symlink pointing out
		"/api/v1/recordings/live/cam1/notes.txt",      // not a recording
		"/api/v1/recordings/live/%2e%2e/%2e%2e/x.mp4", // encoded ..
		"/api/v1/recordings/" + strings.TrimPrefix(outside, "/"),
	} {
		if code, _, out := apiTDo(t, a, "GET", p, ""); code == 200 || strings.Contains(out, "secret") {
			t.Errorf("GET %s = %d %q, want refused", p, code, out)
		}
	}

	if code, _, _ := apiTDo(t, a, "DELETE", "/api/v1/recordings/live/cam1/2026-11-24_10-00-00.mp4", ""); code != http.StatusConflict {
		t.Errorf("delete of a just-written file = %d, want 409", code)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(file, old, old)
	if code, _, out := apiTDo(t, a, "DELETE", "/api/v1/recordings/live/cam1/2026-11-24_10-00-00.mp4", ""); code != 200 {
		t.Errorf("delete = %d %s", code, out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("file still there after delete: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("file outside storage touched: %v", err)
	}
}
