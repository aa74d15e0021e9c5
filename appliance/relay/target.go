// Package relay pushes live streams on to upstream RTMP and RTMPS servers
// (restreaming to YouTube, Twitch, Facebook, another nginx-rtmp, SRS or
// MediaMTX). Every stream and target pair gets a pusher: a hub subscriber
// feeding an rtmp.Client that publishes upstream, reconnecting with
// exponential backoff for as long as the stream is live.
package relay

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/internal/redact"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Target is one upstream a stream is pushed to.
//
// The mapstructure tags are the keys of an apps.<app>.push entry in the
// configuration, which decodes straight into this type.
type Target struct {
	// Name identifies the target within a stream (API, logs, metrics).
	// Empty: the URL's host, with -2, -3... for repeats.
	Name string `mapstructure:"name"`
	// URL is rtmp:// or rtmps://host[:port]/app/key, where {app} and
	// {stream} are replaced by the pushed stream's app and name.
	URL string `mapstructure:"url"`
	// Streams limits the target to these stream names or path.Match globs
	// ("cam*"); empty means every stream of the app.
	Streams []string `mapstructure:"streams"`
	// Policy, when set, limits where the target may push to (targets
	// added through the API); nil: trusted (the config file's). Never
	// read from the file.
	Policy *Policy `mapstructure:"-"`
}

// Matches reports whether t applies to the stream name.
func (t Target) Matches(stream string) bool {
	if len(t.Streams) == 0 {
		return true
	}
	for _, p := range t.Streams {
		if p == stream {
			return true
		}
		if ok, _ := path.Match(p, stream); ok {
			return true
		}
	}
	return false
}

// Validate checks the URL and the stream patterns; the config check and the
// API use it so a bad target is refused before anything connects.
func (t Target) Validate() error {
	if _, _, _, _, err := rtmp.ParseURL(ExpandURL(t.URL, "app", "stream")); err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), t.URL, redact.URL(t.URL)))
	}
	for _, p := range t.Streams {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("streams: bad pattern %q: %w", p, err)
		}
	}
	return nil
}

// ExpandURL replaces the {app} and {stream} placeholders of a target URL.
func ExpandURL(u, app, stream string) string {
	return strings.NewReplacer("{app}", app, "{stream}", stream).Replace(u)
}

// defaultName is the name of a target that has none: its URL's host.
func defaultName(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "push"
}

// normalize names unnamed targets and makes names unique within the list
// (a repeated name gets -2, -3...).
func normalize(targets []Target) []Target {
	out := make([]Target, 0, len(targets))
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		if t.Name == "" {
			t.Name = defaultName(t.URL)
		}
		t.Name = uniqueName(t.Name, seen)
		seen[t.Name] = true
		out = append(out, t)
	}
	return out
}

func uniqueName(name string, taken map[string]bool) string {
	if !taken[name] {
		return name
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("%s-%d", name, i); !taken[n] {
			return n
		}
	}
}
