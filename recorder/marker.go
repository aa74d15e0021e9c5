package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OpenMarkerSuffix ends the name of the marker file that sits next to a
// segment while it is being written: NAME.flv has NAME.flv.open beside it
// from the moment it is created until it is closed cleanly. A marker left
// behind means the process that wrote the segment died (crash, kill -9,
// power cut) or could not finish it (write error): only such segments are
// repaired by Recover. Every other recording (closed by us, hand-placed,
// already repaired) is never rewritten.
const OpenMarkerSuffix = ".open"

// markerPath is the marker of the segment at path.
func markerPath(segment string) string { return segment + OpenMarkerSuffix }

// isMarker reports whether path is the open marker of a recording.
func isMarker(path string) bool {
	return strings.HasSuffix(path, OpenMarkerSuffix) && isRecording(strings.TrimSuffix(path, OpenMarkerSuffix))
}

// createMarker writes the marker of a segment that was just created, and
// makes it durable (file and directory fsynced) before any media goes into
// the segment: after a power cut, a segment with media always has its
// marker if it was not closed.
func createMarker(segment string, opened time.Time) error {
	p := markerPath(segment)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create open marker: %w", err)
	}
	// The content is for people looking at the directory; only the
	// marker's existence matters to Recover.
	_, err = fmt.Fprintf(f, "tapedeck is writing %s (opened %s, pid %d); removed when it is closed\n",
		filepath.Base(segment), opened.Format(time.RFC3339), os.Getpid())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("write open marker: %w", err)
	}
	syncDir(filepath.Dir(p))
	return nil
}

// removeMarker removes a segment's marker once the segment is complete on
// disk, and fsyncs the directory so that the removal survives a power cut
// (a marker that came back would only make Recover check a complete file).
func removeMarker(segment string) error {
	err := os.Remove(markerPath(segment))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove open marker: %w", err)
	}
	syncDir(filepath.Dir(segment))
	return nil
}
