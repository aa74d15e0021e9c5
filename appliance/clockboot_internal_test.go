package appliance

import (
	"log/slog"
	"path/filepath"
	"testing"
)

// The recorders and the start's reconcile over one storage directory
// share one boot journal, however the directory is spelled, also after a
// reload moved storage.dir away and back; another directory has its own.
func TestRecordingsJournalPerDir(t *testing.T) {
	r := newRecordings(nil, slog.New(slog.DiscardHandler))
	dir, other := t.TempDir(), t.TempDir()
	j := r.journal(dir)
	if j.Dir() != dir {
		t.Errorf("journal of %s is over %s", dir, j.Dir())
	}
	if o := r.journal(other); o == j || o.Dir() != other {
		t.Errorf("journal of %s: %p over %s, that of %s %p", other, o, o.Dir(), dir, j)
	}
	if again := r.journal(filepath.Join(dir, "x", "..") + "/"); again != j {
		t.Errorf("a second journal over %s", dir)
	}
}
