package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/redact"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// streamJSON is one live stream in GET /api/v1/streams.
type streamJSON struct {
	App         string         `json:"app"`
	Name        string         `json:"name"`
	Publishing  bool           `json:"publishing"`
	Source      string         `json:"source,omitempty"` // kind and address: "rtmp 1.2.3.4:5678"
	SourceKind  string         `json:"source_kind,omitempty"`
	Since       time.Time      `json:"since,omitzero"`
	VideoCodec  string         `json:"video_codec,omitempty"`
	AudioCodec  string         `json:"audio_codec,omitempty"`
	Width       float64        `json:"width,omitempty"`
	Height      float64        `json:"height,omitempty"`
	FPS         float64        `json:"fps,omitempty"`
	BitrateIn   float64        `json:"bitrate_in_bps"`  // average since the publish started
	BitrateOut  float64        `json:"bitrate_out_bps"` // to all subscribers, same average
	BytesIn     uint64         `json:"bytes_in"`
	BytesOut    uint64         `json:"bytes_out"`
	Subscribers int            `json:"subscribers"` // players + recorder + relays
	Players     int            `json:"players"`
	Skips       uint64         `json:"skips"` // keyframe skips of slow subscribers
	Recording   *recJSON       `json:"recording,omitempty"`
	Relays      []relay.Status `json:"relays,omitempty"`
}

// recJSON is the recorder's state for a stream.
type recJSON struct {
	Segments    int64  `json:"segments"`
	Bytes       int64  `json:"bytes"`
	WriteErrors int64  `json:"write_errors"`
	Paused      bool   `json:"paused"` // disk full or failing: recording waits, the stream stays live
	Skips       uint64 `json:"skips"`  // the disk fell behind the stream and skipped to a keyframe
}

func (a *Appliance) describeStream(s *hub.Stream) streamJSON {
	j := describeStream(s)
	if st, skips, ok := a.rec.stats(j.App, j.Name); ok {
		j.Recording = &recJSON{Segments: st.Segments, Bytes: st.Bytes, WriteErrors: st.WriteErrors, Paused: st.Paused, Skips: skips}
	}
	j.Relays = a.push.Status(j.App, j.Name)
	return j
}

func describeStream(s *hub.Stream) streamJSON {
	st := s.Stats()
	j := streamJSON{
		App: st.App, Name: st.Name, Publishing: st.Publishing, Source: hideKeyParam(st.Source),
		BytesIn: st.BytesIn, BytesOut: st.BytesOut, Subscribers: st.Subscribers, Players: st.Players, Skips: st.Skips,
	}
	if st.Publishing {
		j.Since = st.Since
		j.SourceKind, _, _ = strings.Cut(st.Source, " ")
		if d := time.Since(st.Since).Seconds(); d > 0 {
			j.BitrateIn = float64(st.BytesIn) * 8 / d
			j.BitrateOut = float64(st.BytesOut) * 8 / d
		}
	}
	if st.VideoCodec != 0 {
		j.VideoCodec = st.VideoCodec.String()
	}
	if st.AudioCodec != 0 {
		j.AudioCodec = st.AudioCodec.String()
	}
	if md := s.Metadata(); md != nil {
		if vals, err := amf.DecodeAMF0(md); err == nil && len(vals) > 1 {
			var props []amf.Property
			switch v := vals[1].(type) {
			case amf.ECMAArray:
				props = v
			case amf.Object:
				props = v
			}
			for _, p := range props {
				f, _ := p.Value.(float64)
				switch p.Key {
				case "width":
					j.Width = f
				case "height":
					j.Height = f
				case "framerate", "fps":
					j.FPS = f
				}
			}
		}
	}
	return j
}

// hideKeyParam hides the value of a key= parameter in a stream source text
// (a publisher's tcUrl may carry its publish key).
func hideKeyParam(s string) string {
	if i := strings.Index(s, "key="); i >= 0 {
		end := strings.IndexAny(s[i:], "&# ")
		if end < 0 {
			end = len(s) - i
		}
		s = s[:i+4] + "REDACTED" + s[i+end:]
	}
	return s
}

// apiHandler serves the HTTP API, /metrics and /healthz.
func (a *Appliance) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	mux.HandleFunc("GET /api/v1/streams", func(w http.ResponseWriter, r *http.Request) {
		list := []streamJSON{}
		for _, s := range a.hub.Streams() {
			list = append(list, a.describeStream(s))
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /api/v1/streams/{app}/{stream...}", func(w http.ResponseWriter, r *http.Request) {
		s := a.hub.Lookup(r.PathValue("app"), r.PathValue("stream"))
		if s == nil {
			writeError(w, http.StatusNotFound, "no such stream")
			return
		}
		writeJSON(w, http.StatusOK, a.describeStream(s))
	})
	mux.HandleFunc("DELETE /api/v1/streams/{app}/{stream...}", func(w http.ResponseWriter, r *http.Request) {
		// .../{stream}/push/{name}: stream names may hold slashes.
		rest, target, ok := cutLast(r.PathValue("stream"), "/")
		name, action, ok2 := cutLast(rest, "/")
		if !ok || !ok2 || action != "push" {
			writeError(w, http.StatusNotFound, "unknown action")
			return
		}
		if err := a.push.Remove(r.PathValue("app"), name, target); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "removed"})
	})
	mux.HandleFunc("POST /api/v1/streams/{app}/{stream...}", func(w http.ResponseWriter, r *http.Request) {
		// {stream...} swallows the action: split it off the end.
		path := r.PathValue("stream")
		name, action, ok := cutLast(path, "/")
		if ok && action == "push" {
			a.addPush(w, r, r.PathValue("app"), name)
			return
		}
		if !ok || action != "kick" {
			writeError(w, http.StatusNotFound, "unknown action")
			return
		}
		// ?reconnect=1: a publisher that announced Enhanced RTMP v2
		// reconnect is told NetConnection.Connect.ReconnectRequest first
		// (to rtmp.reconnect_url, or back here).
		reconnect := false
		if v := r.URL.Query().Get("reconnect"); v != "" {
			var err error
			if reconnect, err = strconv.ParseBool(v); err != nil {
				writeError(w, http.StatusBadRequest, "reconnect must be 1 or 0")
				return
			}
		}
		s := a.hub.Lookup(r.PathValue("app"), name)
		if s == nil {
			writeError(w, http.StatusNotFound, "no such live stream")
			return
		}
		kicked, requested := s.Kick(reconnect)
		if !kicked {
			writeError(w, http.StatusNotFound, "no such live stream")
			return
		}
		a.log.Info("publisher kicked via API", "app", r.PathValue("app"), "stream", name, "reconnect", reconnect,
			"reconnect_requested", requested, "client", r.RemoteAddr)
		// reconnect_requested: whether the publisher was told to come back
		// (it announced Enhanced RTMP v2 reconnect), so a caller knows if
		// it will be back at once or only after its own retry.
		writeJSON(w, http.StatusOK, kickAnswer{Result: "kicked", ReconnectRequested: requested})
	})
	if a.config().HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /api/v1/pulls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.pull.Status())
	})
	mux.HandleFunc("GET /api/v1/recordings", a.listRecordings)
	mux.HandleFunc("GET /api/v1/recordings/{path...}", a.serveRecording)
	mux.HandleFunc("DELETE /api/v1/recordings/{path...}", a.deleteRecording)
	a.mountConsole(mux)
	mux.HandleFunc("GET /hls/", a.serveHLS)
	mux.HandleFunc("GET /api/v1/uploads", a.listUploads)
	return a.guardAPI(mux)
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// addPush handles POST /api/v1/streams/{app}/{stream}/push with a JSON
// body {"url": ..., "name": ...}: a target for this live stream only,
// without touching the config file.
func (a *Appliance) addPush(w http.ResponseWriter, r *http.Request, app, stream string) {
	var req struct {
		URL  string `json:"url"`
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil { // bounded by limitBody
		writeError(w, http.StatusBadRequest, "body must be JSON {\"url\": ..., \"name\": ...}")
		return
	}
	at := a.config().Relay.AllowTargets
	t := relay.Target{Name: req.Name, URL: req.URL, Policy: &relay.Policy{Schemes: at.Schemes, Hosts: at.Hosts}}
	if err := t.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := t.Policy.Check(relay.ExpandURL(t.URL, app, stream)); err != nil {
		a.log.Warn("push target refused", "app", app, "stream", stream, "url", redact.URL(req.URL), "client", r.RemoteAddr, "err", err)
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	switch err := a.push.Add(app, stream, t); {
	case errors.Is(err, relay.ErrNotLive):
		writeError(w, http.StatusNotFound, "no such live stream")
	case errors.Is(err, relay.ErrExists):
		writeError(w, http.StatusConflict, "a target of that name exists")
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		a.log.Info("push target added via API", "app", app, "stream", stream, "url", redact.URL(req.URL))
		writeJSON(w, http.StatusCreated, map[string]string{"result": "added"})
	}
}

// kickAnswer is the answer of POST .../kick.
type kickAnswer struct {
	Result             string `json:"result"`
	ReconnectRequested bool   `json:"reconnect_requested"`
}
