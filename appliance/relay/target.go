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

	"github.com/tapedeck/tapedeck/rtmp"
)

// Target is one upstream a stream is pushed to.
type Target struct {
	// Name identifies the target within a stream (API, logs, metrics).
	// Empty: the URL's host, with -2, -3... for repeats.
	Name string
	// URL is rtmp:// or rtmps://host[:port]/app/key, where {app} and
	// {stream} are replaced by the pushed stream's app and name.
	URL string
	// Streams limits the target to these stream names or path.Match globs
	// ("cam*"); empty means every stream of the app.
	Streams []string
	// Policy, when set, limits where the target may push to (targets
	// added through the API); nil: trusted (the config file's).
	Policy *Policy
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
		return errors.New(strings.ReplaceAll(err.Error(), t.URL, RedactURL(t.URL)))
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

const mask = "****"

// RedactURL hides the secrets of an RTMP URL for logs and the API: the
// stream key (the last path element; keys of 16 characters or more keep
// their first 4 so targets stay tellable apart), every query value and a
// password. What cannot be parsed is hidden whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "[unparseable url]"
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(u.User.Username())
		if _, ok := u.User.Password(); ok {
			b.WriteString(":" + mask)
		}
		b.WriteString("@")
	}
	b.WriteString(u.Host)
	p := u.Path // for reading, not for dialling: unescaped is fine
	if i := strings.LastIndex(p, "/"); i >= 0 && i < len(p)-1 {
		p = p[:i+1] + maskKey(p[i+1:])
	}
	b.WriteString(p)
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?")
		for i, kv := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteString("&")
			}
			k, _, hasValue := strings.Cut(kv, "=")
			b.WriteString(k)
			if hasValue {
				b.WriteString("=" + mask)
			}
		}
	}
	return b.String()
}

func maskKey(k string) string {
	switch {
	case k == "{stream}" || k == "{app}":
		return k
	case len(k) >= 16:
		return k[:4] + mask
	}
	return mask
}

// secrets lists what must not appear in error messages of a push to raw:
// the stream key with and without its query, query values, the password.
// Pieces shorter than 4 bytes are not worth hiding (and would garble the
// message).
func secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	if _, _, _, stream, err := rtmp.ParseURL(raw); err == nil {
		add(stream)
		name, _, _ := strings.Cut(stream, "?")
		add(name)
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if pw, ok := u.User.Password(); ok {
				add(pw)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// scrub replaces the secrets in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets { // a key with its query goes before the key alone
		s = strings.ReplaceAll(s, sec, mask)
	}
	return s
}
