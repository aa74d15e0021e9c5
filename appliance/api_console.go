package appliance

import (
	"net/http"
	"path/filepath"
	"sort"

	"github.com/tapedeck/tapedeck/appliance/console"
)

// webConsole is the console's state that outlives config reloads: the
// signed-in browsers.
type webConsole struct {
	sessions *console.Sessions
	login    *console.Login
}

func (a *Appliance) newWebConsole() *webConsole {
	s := console.NewSessions(console.MaxSessions)
	return &webConsole{sessions: s, login: console.NewLogin(s, a.credentials, a.log)}
}

// credentials are the config's sign-in settings in force.
func (a *Appliance) credentials() console.Credentials {
	h := a.config().HTTP
	return console.Credentials{Token: h.Token, Users: h.Users, SessionTTL: h.SessionTTL}
}

// mountConsole adds the console page, its sign-in and the storage status
// it shows to the API's routes.
func (a *Appliance) mountConsole(mux *http.ServeMux) {
	page := console.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /assets/", page)
	mux.HandleFunc("POST "+console.LoginPath, a.web.login.ServeLogin)
	mux.HandleFunc("POST /api/v1/logout", a.web.login.ServeLogout)
	mux.HandleFunc("GET /api/v1/session", a.web.login.ServeSession)
	mux.HandleFunc("GET /api/v1/storage", a.serveStorage)
}

// storageJSON is GET /api/v1/storage: the disk, the retention rules and
// the recorders' health, what the console's storage panel shows.
type storageJSON struct {
	Dir       string  `json:"dir"`
	FreeBytes *uint64 `json:"free_bytes,omitempty"` // absent when the file system cannot say
	// MinFree is the free-space floor as written ("5%", "2GB").
	MinFree           string             `json:"min_free"`
	MaxAgeSeconds     float64            `json:"max_age_seconds"` // 0: off
	MaxBytes          int64              `json:"max_bytes"`       // 0: off
	SweepEverySeconds float64            `json:"sweep_every_seconds"`
	RetentionDeleted  int64              `json:"retention_deleted"`
	Apps              []appRetentionJSON `json:"apps,omitempty"` // apps with a retention rule of their own
	Recorders         recorderTotalsJSON `json:"recorders"`
}

type appRetentionJSON struct {
	App           string  `json:"app"`
	MaxAgeSeconds float64 `json:"max_age_seconds"`
	MaxBytes      int64   `json:"max_bytes"`
}

// recorderTotalsJSON sums the running recorders.
type recorderTotalsJSON struct {
	Active      int   `json:"active"`
	Bytes       int64 `json:"bytes"`
	WriteErrors int64 `json:"write_errors"`
	Dropped     int64 `json:"dropped"`
	SlowSyncs   int64 `json:"slow_syncs"`
	Paused      bool  `json:"paused"` // some recording waits on a full or failing disk
}

func (a *Appliance) serveStorage(w http.ResponseWriter, r *http.Request) {
	cfg := a.config()
	st := cfg.Storage
	j := storageJSON{Dir: st.Dir, MinFree: st.MinFree.String(), MaxAgeSeconds: st.MaxAge.Seconds(),
		MaxBytes: int64(st.MaxBytes), SweepEverySeconds: st.SweepEvery.Seconds()}
	// Before the first recording storage.dir may not exist yet: the file
	// system it will be on is its nearest existing parent's.
	for d := filepath.Clean(st.Dir); ; d = filepath.Dir(d) {
		if free, ok := freeBytes(d); ok {
			j.FreeBytes = &free
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	for name, ac := range cfg.Apps {
		if ac.Record.MaxAge > 0 || ac.Record.MaxBytes > 0 {
			j.Apps = append(j.Apps, appRetentionJSON{App: name, MaxAgeSeconds: ac.Record.MaxAge.Seconds(), MaxBytes: int64(ac.Record.MaxBytes)})
		}
	}
	sort.Slice(j.Apps, func(x, y int) bool { return j.Apps[x].App < j.Apps[y].App })
	t, active := a.rec.totals()
	j.Recorders = recorderTotalsJSON{Active: active, Bytes: t.Bytes, WriteErrors: t.WriteErrors, Dropped: t.Dropped, SlowSyncs: t.SlowSyncs, Paused: t.Paused}
	a.rec.mu.Lock()
	j.RetentionDeleted = int64(a.rec.swept)
	a.rec.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}
