package recorder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultPathTemplate is the path of a segment relative to Config.Dir,
// without the extension.
const DefaultPathTemplate = "{app}/{stream}/{YYYY}-{MM}-{DD}_{hh}-{mm}-{ss}"

// file is what the writers need from a segment file. Tests inject failing
// ones through Config.openFile.
type file interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

func openFileDefault(path string) (file, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}

// safeName makes an app or stream name usable as one path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', 0, ':':
			return '_'
		}
		if r < 0x20 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// ExpandTemplate fills the fields {app} {stream} {YYYY} {MM} {DD} {hh}
// {mm} {ss} of tmpl for a segment of app/stream starting at t, the way
// segment paths are named (the upload prefix uses it too).
func ExpandTemplate(tmpl, app, stream string, t time.Time) string {
	return expandTemplate(tmpl, app, stream, t)
}

// expandTemplate fills the template fields for a segment starting at t.
func expandTemplate(tmpl, app, stream string, t time.Time) string {
	return strings.NewReplacer(
		"{app}", safeName(app),
		"{stream}", safeName(stream),
		"{YYYY}", fmt.Sprintf("%04d", t.Year()),
		"{MM}", fmt.Sprintf("%02d", int(t.Month())),
		"{DD}", fmt.Sprintf("%02d", t.Day()),
		"{hh}", fmt.Sprintf("%02d", t.Hour()),
		"{mm}", fmt.Sprintf("%02d", t.Minute()),
		"{ss}", fmt.Sprintf("%02d", t.Second()),
	).Replace(tmpl)
}

// formatExt is the file extension of a format.
func formatExt(format string) string {
	if format == FormatFLV {
		return extFLV
	}
	return extMP4
}

// createSegmentFile creates the file for a new segment: the expanded
// template plus the extension, with -1, -2, ... appended when the name is
// taken (a stream republished within the same second; see segname.go,
// which reads such names back). Directories are
// created as needed.
func createSegmentFile(cfg *Config, app, stream string, start time.Time) (string, file, error) {
	rel := filepath.FromSlash(expandTemplate(cfg.PathTemplate, app, stream, start))
	base := filepath.Join(cfg.Dir, rel)
	if r, err := filepath.Rel(cfg.Dir, base); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", nil, fmt.Errorf("recorder: path template %q leaves the storage directory", cfg.PathTemplate)
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", nil, err
	}
	ext := formatExt(cfg.Format)
	recreated := false
	for i := 0; i < 10000; i++ {
		p := seqName(base, i, ext)
		f, err := cfg.openFile(p)
		if errors.Is(err, fs.ErrNotExist) && !recreated {
			// Retention (Sweep) pruned the directory, empty for a moment,
			// between MkdirAll and the create: make it again, once.
			recreated = true
			if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
				return "", nil, err
			}
			f, err = cfg.openFile(p)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		syncDir(filepath.Dir(p)) // make the new name itself survive a power cut
		return p, f, nil
	}
	return "", nil, fmt.Errorf("recorder: no free name for %s%s", base, ext)
}

// SyncDir fsyncs a directory, so that a file created, renamed or removed
// in it survives a power cut. A filesystem that cannot fsync directories
// (os.ErrInvalid) is not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// syncDir is SyncDir where the recorder goes on regardless: the media is
// written, only the name's durability is at stake.
func syncDir(dir string) { SyncDir(dir) }
