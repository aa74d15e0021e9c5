package appliance_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// Files under storage.dir are listed, served with range requests (so a
// browser <video> can seek), and deleted; nothing outside can be reached.
func TestAPIRecordings(t *testing.T) {
	storage := t.TempDir()
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	body := []byte("0123456789abcdefghij")
	file := filepath.Join(dir, "2026-11-24_10-00-00.mp4")
	os.WriteFile(file, body, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret.mp4")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape.mp4"))

	code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings?app=live&stream=cam1", "")
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
	if code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings?app=other", ""); code != 200 || strings.TrimSpace(out) != "[]" {
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
		if code, _, out := apptest.Do(t, a, "GET", p, ""); code == 200 || strings.Contains(out, "secret") {
			t.Errorf("GET %s = %d %q, want refused", p, code, out)
		}
	}

	if code, _, _ := apptest.Do(t, a, "DELETE", "/api/v1/recordings/live/cam1/2026-11-24_10-00-00.mp4", ""); code != http.StatusConflict {
		t.Errorf("delete of a just-written file = %d, want 409", code)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(file, old, old)
	if code, _, out := apptest.Do(t, a, "DELETE", "/api/v1/recordings/live/cam1/2026-11-24_10-00-00.mp4", ""); code != 200 {
		t.Errorf("delete = %d %s", code, out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("file still there after delete: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("file outside storage touched: %v", err)
	}
}

// Recordings not closed in this run (from before a restart, or put under
// storage.dir by hand) list with the duration read from the file; the
// duration is remembered while the file keeps its size and modification
// time; a truncated or corrupt file lists without one.
func TestAPIRecordingDurationsFromFiles(t *testing.T) {
	ffmpeg := testenv.NeedTool(t, "ffmpeg")
	src := t.TempDir()
	encode := func(name string, extra ...string) string {
		out := filepath.Join(src, name)
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
			"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "64k"}, extra...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if b, err := exec.CommandContext(ctx, ffmpeg, append(args, out)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		return out
	}
	flv := encode("a.flv", "-f", "flv")
	mp4 := encode("a.mp4")
	fmp4 := encode("f.mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof")

	storage := t.TempDir()
	dir := filepath.Join(storage, "live", "cam1")
	os.MkdirAll(dir, 0o755)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	place := func(name string, body []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// As if recorded before a restart: there when the appliance starts.
	place("2026-01-01_10-00-00.flv", read(flv))
	mp4Path := place("2026-01-01_10-00-02.mp4", read(mp4))
	place("2026-01-01_10-00-04.mp4", read(fmp4))
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.Storage.Dir = storage })
	// Put by hand after the start: damaged ones (start-up recovery would
	// have repaired some of them).
	mp4Body := read(mp4)
	place("2026-01-01_10-00-06.mp4", mp4Body[:len(mp4Body)/2]) // moov at the end: cut off
	place("2026-01-01_10-00-08.flv", read(flv)[:13])           // the FLV header alone
	place("2026-01-01_10-00-10.mp4", []byte(strings.Repeat("garbage!", 1000)))

	formats := map[string]string{}
	list := func() map[string]*float64 {
		t.Helper()
		code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings", "")
		if code != 200 {
			t.Fatalf("list: %d %s", code, out)
		}
		var l []struct {
			Path, Format, Container string
			Duration                *float64 `json:"duration_seconds"`
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		m := map[string]*float64{}
		for _, r := range l {
			m[r.Path] = r.Duration
			formats[r.Path] = r.Format + "/" + r.Container
		}
		if len(m) != 6 {
			t.Fatalf("listed %d files, want 6: %s", len(m), out)
		}
		return m
	}
	check := func(label string, got map[string]*float64, want map[string]float64) {
		t.Helper()
		for p, d := range got {
			w, ok := want[p]
			switch {
			case !ok && d != nil:
				t.Errorf("%s: %s has duration %v, want none", label, p, *d)
			case ok && d == nil:
				t.Errorf("%s: %s has no duration, want %v", label, p, w)
			case ok && (*d < w-0.1 || *d > w+0.1):
				t.Errorf("%s: %s has duration %v, want %v ± 0.1", label, p, *d, w)
			}
		}
	}
	want := map[string]float64{
		"live/cam1/2026-01-01_10-00-00.flv": 2,
		"live/cam1/2026-01-01_10-00-02.mp4": 2,
		"live/cam1/2026-01-01_10-00-04.mp4": 2,
	}
	check("first listing", list(), want)
	// The format as the file is: ffmpeg's fragmented MP4 is fmp4, as the
	// config calls what the recorder writes so.
	for p, f := range map[string]string{
		"live/cam1/2026-01-01_10-00-00.flv": "flv/flv",
		"live/cam1/2026-01-01_10-00-02.mp4": "mp4/mp4",
		"live/cam1/2026-01-01_10-00-04.mp4": "fmp4/mp4",
	} {
		if formats[p] != f {
			t.Errorf("%s: format %q, want %q", p, formats[p], f)
		}
	}

	// Same size and mtime, different content: a listing that reopened the
	// file would find no duration in it; the cached one is listed.
	info, _ := os.Stat(mp4Path)
	if err := os.WriteFile(mp4Path, make([]byte, info.Size()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(mp4Path, info.ModTime(), info.ModTime())
	check("second listing (cached)", list(), want)

	// Once its mtime changes, the file is read again.
	newer := old.Add(time.Minute)
	os.Chtimes(mp4Path, newer, newer)
	delete(want, "live/cam1/2026-01-01_10-00-02.mp4")
	check("after a change", list(), want)
}
