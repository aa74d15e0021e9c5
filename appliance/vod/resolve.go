// Package vod plays recordings back over RTMP: it resolves what a client
// asked for to a file or a stream directory under storage.dir (never
// outside it), reads the file(s) with remux's FLV and MP4 readers and
// delivers the media paced at real time, with seek and pause, as an
// rtmp.VODSubscription.
package vod

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapedeck/tapedeck/rtmp"
)

// ErrUnsafe is wrapped by the errors of names that would leave storage.dir.
var ErrUnsafe = errors.New("unsafe recording name")

// Target is what a play request resolved to.
type Target struct {
	Path string // absolute, symlinks resolved, inside the root
	Rel  string // relative to the root, slash-separated ("live/cam1/x.mp4")
	Dir  bool   // a stream directory: its segments play as one timeline
}

// App is the first element of Rel: the app the recording belongs to.
func (t Target) App() string {
	a, _, _ := strings.Cut(t.Rel, "/")
	return a
}

// RelName joins what a client sent (app and stream name, as the rtmp
// package hands them over) into the path below the playback app. Clients
// split rtmp://box/vod/live/cam1/x.mp4 differently — ffmpeg: app "vod/live"
// + "cam1/x.mp4"; rtmpdump: app "vod/live/cam1" + "x.mp4" — and all give
// "live/cam1/x.mp4". The rtmp package already dropped the mp4:/flv:
// prefixes, the .flv suffix and the query.
func RelName(app, name string) string {
	full := strings.Trim(app, "/") + "/" + name
	_, rest, _ := strings.Cut(full, "/")
	return rest
}

// Resolve maps rel (see RelName) to a file or directory under root. It
// refuses, with an error wrapping ErrUnsafe, names with "..", ".", empty
// elements, absolute paths, backslashes, NUL or ':' (after undoing percent
// escapes) and paths whose symlinks lead out of root. A name without an
// extension is tried as is, then with .flv and .mp4 (clients drop .flv;
// rtmpdump drops .mp4 too but sends an mp4: prefix: preferMP4 tries .mp4
// first).
func Resolve(root, rel string, preferMP4 bool) (Target, error) {
	if strings.Contains(rel, "%") {
		u, err := url.PathUnescape(rel)
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q: bad percent escape", ErrUnsafe, rel)
		}
		rel = u
	}
	if rel == "" {
		return Target{}, fmt.Errorf("%w: empty name", rtmp.ErrStreamNotFound)
	}
	if strings.HasPrefix(rel, "/") || strings.ContainsAny(rel, "\\\x00:") || filepath.IsAbs(rel) {
		return Target{}, fmt.Errorf("%w: %q", ErrUnsafe, rel)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == "" || el == "." || el == ".." {
			return Target{}, fmt.Errorf("%w: %q", ErrUnsafe, rel)
		}
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return Target{}, err
	}
	realRoot, err := filepath.EvalSymlinks(absRoot)
	if err != nil {
		return Target{}, fmt.Errorf("%w: storage dir: %v", rtmp.ErrStreamNotFound, err)
	}
	cands := []string{rel}
	if ext := strings.ToLower(filepath.Ext(rel)); ext != ".flv" && ext != ".mp4" && ext != ".f4v" && ext != ".m4v" && ext != ".mov" {
		if preferMP4 {
			cands = append(cands, rel+".mp4", rel+".flv")
		} else {
			cands = append(cands, rel+".flv", rel+".mp4")
		}
	}
	for _, c := range cands {
		p := filepath.Join(realRoot, filepath.FromSlash(c))
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if !inside(realRoot, real) {
			return Target{}, fmt.Errorf("%w: %q leads out of the storage directory", ErrUnsafe, rel)
		}
		fi, err := os.Stat(real)
		if err != nil {
			continue
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		r, _ := filepath.Rel(realRoot, real)
		return Target{Path: real, Rel: filepath.ToSlash(r), Dir: fi.IsDir()}, nil
	}
	return Target{}, fmt.Errorf("%w: %q", rtmp.ErrStreamNotFound, rel)
}

func inside(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}
