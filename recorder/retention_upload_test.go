package recorder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Segments that wait for their upload (Policy.Keep) are passed over by the
// age and size rules; the free-space floor deletes them all the same, and
// each such deletion goes to Policy.Lost.
func TestSweepKeepsPendingUploads(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	names := []string{"live/cam1/a.mp4", "live/cam1/b.mp4", "live/cam1/c.mp4", "live/cam1/d.mp4"} // oldest first
	pending := []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}
	for _, tc := range []struct {
		name        string
		policy      Policy
		avail       uint64 // of 10000
		wantDeleted []string
		wantLost    []string
	}{
		{name: "age spares pending", policy: Policy{MaxAge: 150 * time.Minute}, avail: 9000},
		{name: "bytes spare pending, take the uploaded", policy: Policy{MaxBytes: 250}, avail: 9000,
			wantDeleted: []string{"live/cam1/c.mp4", "live/cam1/d.mp4"}},
		{name: "floor deletes pending, counted lost", policy: Policy{MinFree: FreeSpace{Bytes: 1000}}, avail: 850,
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}, wantLost: []string{"live/cam1/a.mp4", "live/cam1/b.mp4"}},
		{name: "floor and age: uploaded ones go by age too", policy: Policy{MinFree: FreeSpace{Bytes: 1000}, MaxAge: 90 * time.Minute}, avail: 950,
			wantDeleted: []string{"live/cam1/a.mp4", "live/cam1/c.mp4"}, wantLost: []string{"live/cam1/a.mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, n := range names {
				p := filepath.Join(dir, filepath.FromSlash(n))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
					t.Fatal(err)
				}
				mt := now.Add(-time.Duration(4-i) * time.Hour)
				os.Chtimes(p, mt, mt)
			}
			var lost []string
			p := tc.policy
			p.Keep = func(path string) bool {
				rel, _ := filepath.Rel(dir, path)
				return slices.Contains(pending, filepath.ToSlash(rel))
			}
			p.Lost = func(path string, size int64) {
				if size != 100 {
					t.Errorf("lost %s with size %d", path, size)
				}
				rel, _ := filepath.Rel(dir, path)
				lost = append(lost, filepath.ToSlash(rel))
			}
			deleted, _, err := Sweep(dir, p, nil, now, func(string) (uint64, uint64, error) { return tc.avail, 10000, nil })
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range deleted {
				rel, _ := filepath.Rel(dir, d)
				got = append(got, filepath.ToSlash(rel))
			}
			if !slices.Equal(got, tc.wantDeleted) {
				t.Errorf("deleted %v, want %v", got, tc.wantDeleted)
			}
			if !slices.Equal(lost, tc.wantLost) {
				t.Errorf("lost %v, want %v", lost, tc.wantLost)
			}
		})
	}
}
