package appliance

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// recordingJSON is one file in GET /api/v1/recordings.
type recordingJSON struct {
	Path     string    `json:"path"` // relative to storage.dir, with /
	App      string    `json:"app"`
	Stream   string    `json:"stream"`
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration_seconds,omitempty"` // absent while being recorded, or for an unreadable file
	Bytes    int64     `json:"bytes"`
	Format   string    `json:"format"`
	Open     bool      `json:"open"` // possibly still being written
}

// recentWriteWindow: a file written to this recently may be an open segment.
const recentWriteWindow = 10 * time.Second

func (a *Appliance) listRecordings(w http.ResponseWriter, r *http.Request) {
	root := a.config().Storage.Dir
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
	done := map[string]float64{}
	for _, s := range a.rec.finishedSegments() {
		if rel, err := filepath.Rel(root, s.Path); err == nil {
			done[filepath.ToSlash(rel)] = s.Duration.Seconds()
		}
	}
	// Files whose duration is read from the file (through the cache): the
	// segments closed before this run or put here by hand.
	type unknown struct {
		i    int // in list
		path string
		info fs.FileInfo
	}
	var probe []unknown
	seen := map[string]struct{}{}
	list := []recordingJSON{}
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		format := ""
		switch {
		case strings.HasSuffix(p, ".mp4"):
			format = "mp4"
		case strings.HasSuffix(p, ".flv"):
			format = "flv"
		default:
			return nil
		}
		seen[p] = struct{}{}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		parts := strings.Split(rel, "/")
		rec := recordingJSON{Path: rel, Bytes: info.Size(), Format: format, Start: info.ModTime()}
		if len(parts) >= 3 {
			rec.App, rec.Stream = parts[0], strings.Join(parts[1:len(parts)-1], "/")
		}
		if st, ok := parseSegmentTime(parts[len(parts)-1]); ok {
			rec.Start = st
		}
		recording := a.rec.open.InUse(p) // being written: no duration yet
		if d, ok := done[rel]; ok {
			rec.Duration = d
		} else {
			rec.Open = recording || time.Since(info.ModTime()) < recentWriteWindow
		}
		if (q.Get("app") != "" && q.Get("app") != rec.App) || (q.Get("stream") != "" && q.Get("stream") != rec.Stream) ||
			(!from.IsZero() && rec.Start.Before(from)) || (!to.IsZero() && rec.Start.After(to)) {
			return nil
		}
		list = append(list, rec)
		// A symbolic link is listed but not followed (it may point out).
		if rec.Duration == 0 && !recording && d.Type().IsRegular() {
			probe = append(probe, unknown{len(list) - 1, p, info})
		}
		return nil
	})
	// Newest first: if the time budget runs out, the older ones wait for a
	// later listing.
	sort.SliceStable(probe, func(i, j int) bool { return list[probe[i].i].Start.After(list[probe[j].i].Start) })
	deadline := time.Now().Add(durationBudget)
	for _, u := range probe {
		if d, ok := a.durations.duration(u.path, u.info, deadline); ok {
			list[u.i].Duration = d.Seconds()
		}
	}
	if walkErr == nil {
		a.durations.forgetMissing(root, seen)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Start.Before(list[j].Start) })
	writeJSON(w, http.StatusOK, list)
}

// parseSegmentTime reads the start time from a default-template file name
// (2026-11-24_10-00-00.mp4, possibly with a -N uniqueness suffix).
func parseSegmentTime(name string) (time.Time, bool) {
	if len(name) < 19 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02_15-04-05", name[:19], time.Local)
	return t, err == nil
}

// recordingPath resolves an API path inside storage.dir, refusing escapes
// (.., absolute paths, symlinks pointing out).
func (a *Appliance) recordingPath(rel string) (string, error) {
	root, err := filepath.Abs(a.config().Storage.Dir)
	if err != nil {
		return "", err
	}
	clean := filepath.Clean("/" + rel)
	if rel == "" || strings.Contains(rel, "\\") || clean == "/" {
		return "", errors.New("bad path")
	}
	p := filepath.Join(root, clean)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return "", errors.New("outside storage")
	}
	if !strings.HasSuffix(real, ".mp4") && !strings.HasSuffix(real, ".flv") {
		return "", errors.New("not a recording")
	}
	return real, nil
}

func (a *Appliance) serveRecording(w http.ResponseWriter, r *http.Request) {
	p, err := a.recordingPath(r.PathValue("path"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	f, err := os.Open(p)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.IsDir() {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	if strings.HasSuffix(p, ".mp4") {
		w.Header().Set("Content-Type", "video/mp4")
	} else {
		w.Header().Set("Content-Type", "video/x-flv")
	}
	// ServeContent answers Range requests, so a browser <video> can seek.
	http.ServeContent(w, r, filepath.Base(p), info.ModTime(), f)
}

func (a *Appliance) deleteRecording(w http.ResponseWriter, r *http.Request) {
	p, err := a.recordingPath(r.PathValue("path"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	if info, err := os.Stat(p); err == nil && time.Since(info.ModTime()) < recentWriteWindow {
		writeError(w, http.StatusConflict, "recording is being written")
		return
	}
	if err := os.Remove(p); err != nil {
		writeError(w, http.StatusInternalServerError, "delete failed")
		return
	}
	a.log.Info("recording deleted via API", "path", p, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"result": "deleted"})
}
