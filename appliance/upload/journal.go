package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
)

// JournalDir is the journal's folder under storage.dir.
const JournalDir = ".uploads"

// job is one segment to upload, as journaled: one JSON file per job,
// replaced whole (temp file, fsync, rename, fsync of the folder) at each
// change, so a power cut leaves either the old or the new state.
type job struct {
	Rel      string    `json:"rel"` // path under storage.dir, with /
	App      string    `json:"app"`
	Stream   string    `json:"stream"`
	Start    time.Time `json:"start"` // the segment's start: the prefix's date fields
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	Enqueued time.Time `json:"enqueued"`
	// A multipart upload under way: its key, id, part size and the parts
	// the server acknowledged.
	Key      string `json:"key,omitempty"`
	UploadID string `json:"upload_id,omitempty"`
	PartSize int64  `json:"part_size,omitempty"`
	Parts    []part `json:"parts,omitempty"`

	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
	Reason    string `json:"reason,omitempty"`

	nextTry time.Time // in memory only: a restart retries at once
	target  string    // settings of the last failed attempt (Uploader.hold), in memory only
}

// part is an acknowledged part of a multipart upload.
type part struct {
	N    int    `json:"n"`
	Size int64  `json:"size"`
	MD5  string `json:"md5"` // hex
	ETag string `json:"etag"`
}

// acked returns the bytes of the parts acknowledged.
func (j *job) acked() int64 {
	var n int64
	for _, p := range j.Parts {
		n += p.Size
	}
	return n
}

// journal keeps the job files of one storage directory.
type journal struct{ dir string }

// id is the job file's name for rel: stable, so a segment enqueued again
// replaces its job.
func jobID(rel string) string {
	h := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(h[:12])
}

func (jl journal) path(rel string) string { return filepath.Join(jl.dir, jobID(rel)+".json") }

// save writes j durably.
func (jl journal) save(j *job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("upload journal: %w", err)
	}
	if err := os.MkdirAll(jl.dir, 0o755); err != nil {
		return fmt.Errorf("upload journal: %w", err)
	}
	final := jl.path(j.Rel)
	err = recorder.ReplaceFile(final, b, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// Retention prunes empty folders below storage.dir: it may have
		// taken an empty journal between MkdirAll and here.
		if err = os.MkdirAll(jl.dir, 0o755); err == nil {
			err = recorder.ReplaceFile(final, b, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("upload journal: %s: %w", final, err)
	}
	return nil
}

// remove deletes the job of rel durably.
func (jl journal) remove(rel string) error {
	if err := os.Remove(jl.path(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload journal: %w", err)
	}
	return syncDir(jl.dir)
}

// load reads every job; files that do not parse (a disk that lied about
// its fsync) are reported in err and left for a person to look at, with
// the rest loaded. Temp files of an interrupted save are removed.
func (jl journal) load() ([]*job, error) {
	entries, err := os.ReadDir(jl.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upload journal: %w", err)
	}
	var jobs []*job
	var errs []error
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(jl.dir, name)
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") { // ReplaceFile's, left by a crash
			os.Remove(p)
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("upload journal: %w", err))
			continue
		}
		var j job
		if err := json.Unmarshal(b, &j); err != nil || j.Rel == "" {
			errs = append(errs, fmt.Errorf("upload journal: %s: not a job (%v)", p, err))
			continue
		}
		jobs = append(jobs, &j)
	}
	return jobs, errors.Join(errs...)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	if err := recorder.SyncDir(dir); err != nil {
		return fmt.Errorf("upload journal: %w", err)
	}
	return nil
}
