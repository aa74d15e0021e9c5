package recorder

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReplaceFile: the new content replaces the old whole, with the mode
// asked for; a failed replace leaves the old content and no temporary file.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "journal.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(p, []byte("new content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new content" {
		t.Fatalf("content %q, want %q", b, "new content")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A directory where the file should be: the rename fails.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(blocked, []byte("x"), 0o644); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only journal.json and blocked (no temporary file)", names)
	}
	if err := ReplaceFile(filepath.Join(dir, "missing", "j.json"), []byte("x"), 0o644); !os.IsNotExist(err) {
		t.Fatalf("into a missing directory: %v, want a not-exist error (the upload journal recreates it)", err)
	}
}
