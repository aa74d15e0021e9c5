package appliance

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
)

// recordingJSON is one file in GET /api/v1/recordings.
type recordingJSON struct {
	Path   string    `json:"path"` // relative to storage.dir, with /
	App    string    `json:"app"`
	Stream string    `json:"stream"`
	Start  time.Time `json:"start"`
	// StartCorrected: the wall clock stepped after the file was named, and
	// start is its true start (from its .start sidecar), not its name's.
	StartCorrected bool `json:"start_corrected,omitempty"`
	// TimeUnverified: named in an earlier boot by a clock the kernel said
	// was not synchronised, and never corrected (docs/recordings.md).
	TimeUnverified bool    `json:"time_unverified,omitempty"`
	Duration       float64 `json:"duration_seconds,omitempty"` // absent while being recorded, or for an unreadable file
	Bytes          int64   `json:"bytes"`
	// Format is the file's as it is on disk: fmp4 (fragmented), mp4
	// (progressive) or flv, the names the config's record.format uses.
	Format string `json:"format"`
	// Container is the file type, "mp4" or "flv" (its extension and
	// Content-Type): what a client that only tells MP4 from FLV needs,
	// and what "format" said for both MP4 kinds before it named them.
	Container string `json:"container"`
	Open      bool   `json:"open"` // possibly still being written
	// Recovery is what start-up recovery found of this file, when it found
	// anything: "truncated" or "repaired" (left open by a crash, made
	// playable), "damaged" (closed, its end broken, left as is) or
	// "unreadable"; RecoveryDetail says what.
	Recovery       string `json:"recovery,omitempty"`
	RecoveryDetail string `json:"recovery_detail,omitempty"`
	// Damaged says why the file is damaged, when the check of closed
	// recordings (at start-up, of their ends; in the background, of their
	// whole structure, once per file) found it so. It is left as is.
	Damaged string `json:"damaged,omitempty"`
}

func (a *Appliance) recordingOf(dir string, s recorder.SegmentInfo, found map[string]recorder.Recovered) recordingJSON {
	j := recordingJSON{Path: s.Rel, App: s.App, Stream: s.Stream, Start: s.Start, StartCorrected: s.StartCorrected, TimeUnverified: s.TimeUnverified, Duration: s.Duration.Seconds(),
		Bytes: s.Size, Format: s.Format, Container: containerOf(s.Format), Open: s.Open}
	if f, ok := found[s.Path]; ok {
		j.Recovery, j.RecoveryDetail = f.Action, f.Detail
	}
	if why, ok := a.rec.damaged(dir, s); ok {
		j.Damaged = why
		if j.Recovery == "" { // found by an earlier start or the background check
			j.Recovery, j.RecoveryDetail = recorder.RecoveredDamaged, why
		}
	}
	return j
}

// containerOf is the file type of a recording format: fmp4 and mp4 are
// both MP4 files.
func containerOf(format string) string {
	if format == recorder.FormatFLV {
		return "flv"
	}
	return "mp4"
}

// listRecordings answers the recordings under storage.dir, oldest first,
// those of ?app= and ?stream= with media between ?from= and ?to= (RFC 3339,
// each optional).
func (a *Appliance) listRecordings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var from, to time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, p.name+": not an RFC 3339 time")
				return
			}
			*p.t = t
		}
	}
	idx := a.rec.index(a.config().Storage.Dir)
	app, stream := q.Get("app"), q.Get("stream")
	var segs []recorder.SegmentInfo
	var err error
	if app != "" && stream != "" {
		segs, err = idx.Segments(app, stream, from, to)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, recorder.ErrUnsafePath) {
			err = nil // no such stream: no recordings
		}
	} else {
		segs, err = idx.All(from, to)
	}
	if err != nil {
		a.log.Warn("recordings listed in part", "dir", idx.Dir(), "err", err)
	}
	list := []recordingJSON{}
	kept := segs[:0]
	for _, s := range segs {
		if (app == "" || app == s.App) && (stream == "" || stream == s.Stream) {
			kept = append(kept, s)
		}
	}
	idx.FillDurations(kept, recorder.DurationBudget)
	found := a.rec.recoveredByPath()
	for _, s := range kept {
		list = append(list, a.recordingOf(idx.Dir(), s, found))
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Start.Before(list[j].Start) })
	writeJSON(w, http.StatusOK, list)
}

// recording looks up an API path in the index, which refuses escapes
// (.., absolute paths, symlinks pointing out) and what is not a recording.
func (a *Appliance) recording(r *http.Request) (recorder.SegmentInfo, bool) {
	s, err := a.rec.index(a.config().Storage.Dir).Lookup(r.PathValue("path"))
	return s, err == nil
}

func (a *Appliance) serveRecording(w http.ResponseWriter, r *http.Request) {
	s, ok := a.recording(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	f, err := os.Open(s.Path)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	if containerOf(s.Format) == "flv" {
		w.Header().Set("Content-Type", "video/x-flv")
	} else {
		w.Header().Set("Content-Type", "video/mp4")
	}
	// ServeContent answers Range requests, so a browser <video> can seek.
	http.ServeContent(w, r, filepath.Base(s.Path), info.ModTime(), f)
}

func (a *Appliance) deleteRecording(w http.ResponseWriter, r *http.Request) {
	s, ok := a.recording(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	if s.Open {
		writeError(w, http.StatusConflict, "recording is being written")
		return
	}
	if err := os.Remove(s.Path); err != nil {
		writeError(w, http.StatusInternalServerError, "delete failed")
		return
	}
	recorder.RemoveSidecars(s.Path)
	a.log.Info("recording deleted via API", "path", s.Path, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"result": "deleted"})
}
