package hls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/recorder"
)

// Options are what a Server needs from the appliance.
type Options struct {
	Hub *hub.Hub
	Log *slog.Logger
	// Config returns the settings in force; a muxer keeps those it
	// started with.
	Config func() Config
	// Admit checks a request against the app's play rules and returns
	// the stream settings to subscribe with.
	Admit func(r *http.Request, app, stream string) (hub.StreamConfig, error)
	// Index returns the recordings index of storage.dir (for VOD).
	Index func() *recorder.Index
}

// Server serves /hls/: live streams and, under /hls/vod/, recordings.
type Server struct {
	opts Options

	mu     sync.Mutex
	muxers map[string]*muxer
	closed bool
}

// New returns a server; muxers start with the first request for a stream.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{opts: o, muxers: map[string]*muxer{}}
}

// Active returns how many live muxers run.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.muxers)
}

// Close stops every muxer and refuses new ones.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	list := make([]*muxer, 0, len(s.muxers))
	for _, m := range s.muxers {
		list = append(list, m)
	}
	s.mu.Unlock()
	for _, m := range list {
		m.sub.Close()
		<-m.done
	}
}

// ServeHTTP answers GET /hls/<app>/<stream>/<file> and /hls/vod/....
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/hls/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if vod, ok := strings.CutPrefix(rest, "vod/"); ok {
		s.serveVOD(w, r, vod)
		return
	}
	app, stream, file, ok := splitPath(rest)
	if !ok {
		httpError(w, http.StatusNotFound, "want /hls/<app>/<stream>/index.m3u8")
		return
	}
	scfg, err := s.opts.Admit(r, app, stream)
	if err != nil {
		httpError(w, http.StatusForbidden, err.Error())
		return
	}
	suffix := ""
	if k := r.URL.Query().Get("key"); k != "" {
		suffix = "?key=" + url.QueryEscape(k)
	}
	if file == "index.m3u8" {
		m, code, err := s.muxer(app, stream, scfg)
		if err != nil {
			httpError(w, code, err.Error())
			return
		}
		defer m.request()()
		s.servePlaylist(w, r, m, suffix)
		return
	}
	s.mu.Lock()
	m := s.muxers[app+"/"+stream]
	s.mu.Unlock()
	if m == nil {
		httpError(w, http.StatusNotFound, "no HLS muxer for this stream: request index.m3u8 first")
		return
	}
	defer m.request()()
	s.serveMedia(w, r, m, file)
}

// splitPath splits "<app>/<stream...>/<file>"; stream names may hold
// slashes.
func splitPath(p string) (app, stream, file string, ok bool) {
	app, rest, ok1 := strings.Cut(p, "/")
	i := strings.LastIndex(rest, "/")
	if !ok1 || i <= 0 || app == "" {
		return "", "", "", false
	}
	return app, rest[:i], rest[i+1:], true
}

// muxer returns the stream's muxer, starting it if the stream is live.
func (s *Server) muxer(app, stream string, scfg hub.StreamConfig) (*muxer, int, error) {
	key := app + "/" + stream
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.muxers[key]; m != nil {
		return m, 0, nil
	}
	if s.closed {
		return nil, http.StatusServiceUnavailable, errors.New("shutting down")
	}
	st := s.opts.Hub.Lookup(app, stream)
	if st == nil || !st.Stats().Publishing {
		return nil, http.StatusNotFound, errors.New("no such live stream")
	}
	cfg := s.opts.Config().withDefaults()
	if len(s.muxers) >= cfg.MaxStreams {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("%d streams already served over HLS (http.hls.max_streams)", cfg.MaxStreams)
	}
	sub := s.opts.Hub.Subscribe(app, stream, scfg)
	sub.SetKind("hls")
	m := newMuxer(app, stream, sub, cfg, s.opts.Log)
	s.muxers[key] = m
	s.opts.Log.Info("hls muxer started", "app", app, "stream", stream)
	go m.run()
	go m.watch(func() {
		s.mu.Lock()
		if s.muxers[key] == m {
			delete(s.muxers, key)
		}
		s.mu.Unlock()
	})
	return m, 0, nil
}

// wait blocks until cond holds (under m.mu), the request ends or the
// deadline passes; it returns with m.mu held and whether cond held.
func (m *muxer) wait(r *http.Request, d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	m.mu.Lock()
	for !cond() {
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			m.mu.Lock()
			return cond()
		case <-r.Context().Done():
			m.mu.Lock()
			return false
		}
		m.mu.Lock()
	}
	return true
}

func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, m *muxer, suffix string) {
	q := r.URL.Query()
	msn, part := int64(-1), int64(-1)
	if v := q.Get("_HLS_msn"); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			httpError(w, http.StatusBadRequest, "bad _HLS_msn")
			return
		}
		msn = int64(n)
		if v := q.Get("_HLS_part"); v != "" {
			p, err := strconv.ParseUint(v, 10, 31)
			if err != nil {
				httpError(w, http.StatusBadRequest, "bad _HLS_part")
				return
			}
			part = int64(p)
		}
	}
	wait := firstSegmentWait
	if msn >= 0 {
		// A blocking reload waits up to three target durations.
		wait = 3*m.cfg.SegmentDuration + 3*time.Second
	}
	bad := false
	ready := m.wait(r, wait, func() bool {
		var ok bool
		ok, bad = m.readyLocked(msn, part)
		return ok || bad
	})
	defer m.mu.Unlock()
	switch {
	case bad:
		httpError(w, http.StatusBadRequest, "_HLS_msn is more than one segment ahead of the live edge")
		return
	case m.err != nil && !errors.Is(m.err, errEnded):
		httpError(w, http.StatusUnsupportedMediaType, m.err.Error())
		return
	case !ready && msn < 0 && m.completeLocked() == 0:
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "no segment yet: the stream has not sent a keyframe")
		return
	}
	body := m.playlistLocked(suffix)
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, m *muxer, file string) {
	name, ok := strings.CutSuffix(file, ".mp4")
	if !ok {
		httpError(w, http.StatusNotFound, "no such file")
		return
	}
	num := func(prefix string) (uint64, bool) {
		v, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 10, 63)
		return n, err == nil
	}
	var body io.ReadSeeker
	if n, ok := num("init"); ok {
		m.mu.Lock()
		if b, ok := m.inits[int(n)]; ok {
			body = bytes.NewReader(b)
		}
		m.mu.Unlock()
	} else if pn, ok := num("part"); ok {
		// A preload hint's part is asked for before it exists: wait.
		var p *part
		m.wait(r, 3*max(m.cfg.PartDuration, m.cfg.SegmentDuration), func() bool {
			p = m.partLocked(pn)
			// Gone (older than the playlist) or too far ahead: no wait.
			return p != nil || m.err != nil || pn < m.nextPN || pn > m.nextPN+2
		})
		m.mu.Unlock()
		if p != nil {
			body = bytes.NewReader(p.data)
		}
	} else if msn, ok := num("seg"); ok {
		m.mu.Lock()
		seg := m.segmentLocked(msn)
		var parts [][]byte
		if seg != nil {
			for _, p := range seg.parts {
				parts = append(parts, p.data)
			}
		}
		m.mu.Unlock()
		if seg != nil {
			body = slices(parts).reader()
		}
	}
	if body == nil {
		httpError(w, http.StatusNotFound, "no such segment or part (gone, or not made yet)")
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	// Numbers start again with a new muxer: nothing may be reused.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, body)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
