package hls

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
)

// Bounds of a VOD playlist.
const (
	// maxVODSegments bounds the files one playlist lists.
	maxVODSegments = 5000
	// vodDurationBudget is the time a playlist may spend reading files
	// for their durations (recorder.Index.FillDurations).
	vodDurationBudget = 5 * time.Second
	// vodJoin: a file that starts within this of the previous one's end
	// continues its timeline (names carry whole seconds); a later one
	// starts after a discontinuity.
	vodJoin = 1500 * time.Millisecond
)

// serveVOD answers /hls/vod/<app>/<stream>/index.m3u8 and the files it
// lists: <file>?init=1 (the file's ftyp+moov) and <file>?t=<ms> (its
// fragments, decode times moved by t ms).
func (s *Server) serveVOD(w http.ResponseWriter, r *http.Request, rest string) {
	app, stream, file, ok := splitPath(rest)
	if !ok {
		httpError(w, http.StatusNotFound, "want /hls/vod/<app>/<stream>/index.m3u8")
		return
	}
	if _, err := s.opts.Admit(r, app, stream); err != nil {
		httpError(w, http.StatusForbidden, err.Error())
		return
	}
	idx := s.opts.Index()
	if file == "index.m3u8" {
		s.vodPlaylist(w, r, idx, app, stream)
		return
	}
	seg, err := idx.Lookup(app + "/" + stream + "/" + file)
	if err != nil || seg.Format != recorder.FormatFMP4 {
		httpError(w, http.StatusNotFound, "no such fMP4 recording")
		return
	}
	f, err := os.Open(seg.Path)
	if err != nil {
		httpError(w, http.StatusNotFound, "no such recording")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		httpError(w, http.StatusNotFound, "no such recording")
		return
	}
	l, err := scanFMP4(f, info.Size())
	if err != nil {
		httpError(w, http.StatusUnprocessableEntity, "recording not playable over HLS: "+err.Error())
		return
	}
	var body io.ReadSeeker
	q := r.URL.Query()
	if q.Get("init") != "" {
		body = io.NewSectionReader(f, 0, l.initEnd)
	} else {
		shift := int64(0)
		if v := q.Get("t"); v != "" {
			// At most about 35 years of milliseconds: the products stay in 64 bits.
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<40 {
				httpError(w, http.StatusBadRequest, "t: want milliseconds, 0.."+strconv.FormatInt(1<<40, 10))
				return
			}
			shift = n
		}
		var err error
		if body, err = shiftedSection(f, info.Size(), l, shift); err != nil {
			httpError(w, http.StatusInternalServerError, "reading the recording failed")
			return
		}
	}
	w.Header().Set("Content-Type", "video/mp4")
	// ServeContent answers Range requests (206) and If-Range.
	http.ServeContent(w, r, "", info.ModTime(), body)
}

// parseTime reads a start or end parameter: RFC 3339 or unix seconds.
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor unix seconds", v)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// vodItem is one listed file.
type vodItem struct {
	seg     recorder.SegmentInfo
	init    []byte
	shift   int64 // ms: where the file starts on the playlist's timeline
	discont bool
}

func (s *Server) vodPlaylist(w http.ResponseWriter, r *http.Request, idx *recorder.Index, app, stream string) {
	q := r.URL.Query()
	from, err := parseTime(q.Get("start"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "start: "+err.Error())
		return
	}
	to, err := parseTime(q.Get("end"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "end: "+err.Error())
		return
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		httpError(w, http.StatusBadRequest, "end is before start")
		return
	}
	segs, err := idx.Segments(app, stream, from, to)
	if err != nil || len(segs) == 0 {
		httpError(w, http.StatusNotFound, "no recordings of this stream in that window")
		return
	}
	idx.FillDurations(segs, vodDurationBudget)
	var notes []string
	var items []vodItem
	var prevEnd time.Time
	var shift int64
	for _, seg := range segs {
		name := path.Base(seg.Rel)
		switch {
		case seg.Open:
			notes = append(notes, name+" is still being written")
			continue
		case seg.Format != recorder.FormatFMP4:
			notes = append(notes, name+" is "+seg.Format+", not fragmented MP4")
			continue
		case seg.Duration <= 0:
			notes = append(notes, name+" has no known duration yet")
			continue
		case len(items) == maxVODSegments:
			notes = append(notes, fmt.Sprintf("more than %d files: narrow start and end", maxVODSegments))
		}
		if len(items) == maxVODSegments {
			break
		}
		init, err := readInit(seg.Path)
		if err != nil {
			notes = append(notes, name+": "+err.Error())
			continue
		}
		it := vodItem{seg: seg, init: init}
		if len(items) > 0 {
			prev := items[len(items)-1]
			gap := seg.Start.Sub(prevEnd)
			shift += prev.seg.Duration.Milliseconds()
			if gap > vodJoin {
				shift += gap.Milliseconds()
				it.discont = true
			}
			if !bytes.Equal(prev.init, init) {
				it.discont = true
			}
		}
		it.shift = shift
		items = append(items, it)
		prevEnd = seg.Start.Add(seg.Duration)
	}
	if len(items) == 0 {
		httpError(w, http.StatusNotFound, "no playable recordings in that window: "+strings.Join(notes, "; "))
		return
	}
	suffix := ""
	if k := q.Get("key"); k != "" {
		suffix = "&key=" + url.QueryEscape(k)
	}
	var b strings.Builder
	var target float64
	for _, it := range items {
		target = max(target, math.Ceil(it.seg.Duration.Seconds()))
	}
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", int64(target))
	if first := items[0].seg; !from.IsZero() && from.After(first.Start) && from.Sub(first.Start) < first.Duration {
		fmt.Fprintf(&b, "#EXT-X-START:TIME-OFFSET=%.3f,PRECISE=YES\n", from.Sub(first.Start).Seconds())
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "# skipped: %s\n", n)
	}
	var init []byte
	for i, it := range items {
		name := url.PathEscape(path.Base(it.seg.Rel))
		if i > 0 && it.discont {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if init == nil || !bytes.Equal(init, it.init) {
			init = it.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s?init=1%s\"\n", name, suffix)
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", it.seg.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s?t=%d%s\n", it.seg.Duration.Seconds(), name, it.shift, suffix)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(b.String()))
}

// readInit reads a recording's init section (ftyp+moov).
func readInit(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	l, err := scanInit(f, info.Size())
	if err != nil {
		return nil, err
	}
	b := make([]byte, l)
	_, err = f.ReadAt(b, 0)
	return b, err
}
