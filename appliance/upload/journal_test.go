package upload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A job saved is loaded back whole; the temp file a power cut leaves
// mid-save is removed at load; a file that does not parse is reported,
// kept, and does not stop the others from loading.
func TestJournalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	jl := journal{dir: filepath.Join(dir, JournalDir)}
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	j := &job{Rel: "live/cam1/a.mp4", App: "live", Stream: "cam1", Start: start, Size: 12 << 20, Key: "box/live/cam1/a.mp4",
		UploadID: "id-1", PartSize: 5 << 20, Parts: []part{{N: 1, Size: 5 << 20, MD5: "00ff", ETag: "00ff"}}}
	if err := jl.save(j); err != nil {
		t.Fatal(err)
	}
	j.Parts = append(j.Parts, part{N: 2, Size: 5 << 20, MD5: "11ee", ETag: "11ee"})
	if err := jl.save(j); err != nil { // replaces the first
		t.Fatal(err)
	}
	if err := jl.save(&job{Rel: "live/cam1/b.mp4", App: "live"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(jl.dir, ".tmp-123"), []byte(`{"rel":`), 0o644)
	bad := filepath.Join(jl.dir, "deadbeef.json")
	os.WriteFile(bad, []byte(`{"rel":"x"`), 0o644)

	jobs, err := jl.load()
	if err == nil || !strings.Contains(err.Error(), "deadbeef.json: not a job") {
		t.Fatalf("err %v, want the broken file named", err)
	}
	if len(jobs) != 2 {
		t.Fatalf("loaded %d jobs", len(jobs))
	}
	var got *job
	for _, x := range jobs {
		if x.Rel == j.Rel {
			got = x
		}
	}
	if got == nil || got.UploadID != "id-1" || len(got.Parts) != 2 || got.acked() != 10<<20 || !got.Start.Equal(start) || got.Key != j.Key {
		t.Fatalf("loaded %+v", got)
	}
	if _, err := os.Stat(filepath.Join(jl.dir, ".tmp-123")); !os.IsNotExist(err) {
		t.Fatal("temp file of an interrupted save left")
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatal("unparseable job removed; it should stay for a person to see")
	}
	if err := jl.remove(j.Rel); err != nil {
		t.Fatal(err)
	}
	if err := jl.remove(j.Rel); err != nil { // gone already: fine
		t.Fatal(err)
	}
	if jobs, _ := jl.load(); len(jobs) != 1 {
		t.Fatalf("after remove: %d jobs", len(jobs))
	}
}

// Object keys: the expanded prefix, then the path under storage.dir.
func TestObjectKey(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 5, 7, 0, time.UTC)
	for _, tc := range []struct{ prefix, want string }{
		{"", "live/cam1/2026-12-03_09-05-07.mp4"},
		{"fleet/", "fleet/live/cam1/2026-12-03_09-05-07.mp4"},
		{"{box}/{YYYY}/{MM}/{DD}/", "pi-7/2026/12/03/live/cam1/2026-12-03_09-05-07.mp4"},
		{"{app}-{stream}/{hh}{mm}{ss}/", "live-cam1/090507/live/cam1/2026-12-03_09-05-07.mp4"},
	} {
		tg := Target{Prefix: tc.prefix, Box: "pi-7"}
		if got := tg.objectKey("live/cam1/2026-12-03_09-05-07.mp4", "live", "cam1", start); got != tc.want {
			t.Errorf("prefix %q: key %q, want %q", tc.prefix, got, tc.want)
		}
	}
	for _, bad := range []string{"/abs/", "a/../b/", "{host}/", "x{", "a\\b"} {
		if CheckPrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
	for b, ok := range map[string]bool{"tapes": true, "my.tapes-2": true, "ab": false, "Tapes": false, "-tapes": false, "tapes-": false, "t_apes": false} {
		if (CheckBucket(b) == nil) != ok {
			t.Errorf("bucket %q: accepted %v", b, !ok)
		}
	}
}

// Buffers are reused when large enough, and at most MaxConcurrency kept.
func TestBuffers(t *testing.T) {
	var b buffers
	x := b.get(100)
	if len(x) != 100 {
		t.Fatalf("len %d", len(x))
	}
	b.put(x)
	if y := b.get(50); &y[0] != &x[0] || len(y) != 50 {
		t.Fatal("a free buffer large enough was not reused")
	}
	for i := range MaxConcurrency + 3 {
		b.put(make([]byte, 10+i))
	}
	if len(b.free) != MaxConcurrency {
		t.Fatalf("%d kept", len(b.free))
	}
	for _, f := range b.free {
		if cap(f) < 13 {
			t.Fatalf("kept a small one (%d) over larger ones", cap(f))
		}
	}
}
