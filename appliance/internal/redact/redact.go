// Package redact hides the secrets of source and target URLs (stream keys,
// passwords, query tokens) in logs, API answers and error texts. The push
// relays and the camera pulls both use it, so a URL is masked the same
// way wherever it shows.
package redact

import (
	"net/url"
	"strings"

	"github.com/tapedeck/tapedeck/rtmp"
)

// Mask replaces every secret.
const Mask = "****"

// minSecret: pieces shorter than this are not worth hiding in a text (and
// replacing them would garble it).
const minSecret = 4

// URL hides the secrets of raw: a password, every query value and, but
// for rtsp:// and rtsps:// (whose path names a camera channel), the last
// path element: an RTMP URL's stream key, and a URL of another scheme
// given as a push target may hold one too. Keys of 16 characters or more
// keep their first 4, so targets stay tellable apart; the {app} and
// {stream} placeholders are kept. What cannot be parsed is hidden whole.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "[unparseable url]"
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(u.User.Username())
		if _, ok := u.User.Password(); ok {
			b.WriteString(":" + Mask)
		}
		b.WriteString("@")
	}
	b.WriteString(u.Host)
	p := u.Path // for reading, not for dialling: unescaped is fine
	if !isRTSP(u.Scheme) {
		if i := strings.LastIndex(p, "/"); i >= 0 && i < len(p)-1 {
			p = p[:i+1] + maskKey(p[i+1:])
		}
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
				b.WriteString("=" + Mask)
			}
		}
	}
	return b.String()
}

// isRTSP: an RTSP path names a camera's channel, not a secret.
func isRTSP(scheme string) bool { return scheme == "rtsp" || scheme == "rtsps" }

func maskKey(k string) string {
	switch {
	case k == "{stream}" || k == "{app}":
		return k
	case len(k) >= 16:
		return k[:4] + Mask
	}
	return Mask
}

// Secrets lists what must not appear in error texts about raw: for RTMP
// the stream key with and without its query; for every scheme the query
// values and the password. Keys and query values shorter than 4 bytes are
// left out (hiding them would garble the text); a password is listed
// whatever its length, as it unlocks a camera.
func Secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecret {
			out = append(out, s)
		}
	}
	if _, _, _, stream, err := rtmp.ParseURL(raw); err == nil {
		add(stream) // the key with its query goes before the key alone
		name, _, _ := strings.Cut(stream, "?")
		add(name)
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
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

// Scrub replaces each of secrets (from Secrets) in s with Mask.
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	return s
}
