package appliance

import (
	"encoding"
	"fmt"
	"github.com/tapedeck/tapedeck/appliance/pull"
	"github.com/tapedeck/tapedeck/appliance/relay"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ByteSize is a size in bytes that config files may write as 8MB, 512KB,
// 2GiB or a plain number.
type ByteSize int64

// ParseByteSize parses "8MB", "512 KiB", "2G" or "1048576". KB, MB, GB
// are powers of 1024, as disk and memory sizes usually are.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 512KB, 8MB, 2GB)", s)
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
		"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
		"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KB, MB, GB, TB)", s, unit)
	}
	return ByteSize(f * mult), nil
}

var (
	byteSizeType      = reflect.TypeOf(ByteSize(0))
	durationType      = reflect.TypeOf(time.Duration(0))
	textUnmarshalType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// durationHook decodes "10s"-style strings into time.Duration with an
// error that shows the value.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64, reflect.Float32, reflect.Uint, reflect.Uint64:
		// A bare number would silently mean nanoseconds.
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v needs a unit (e.g. %vs for seconds)", data, data)
	default:
		return data, nil
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration (e.g. 500ms, 10s, 1m30s)", data)
	}
	return d, nil
}

// byteSizeHook lets mapstructure decode strings into ByteSize.
func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType || from.Kind() != reflect.String {
		return data, nil
	}
	return ParseByteSize(data.(string))
}

// textHook decodes scalars (a YAML string, or a bare number such as 0)
// into types that parse their own text (recorder.FreeSpace), once, at
// load; their error becomes the key's problem.
func textHook(from, to reflect.Type, data any) (any, error) {
	if !reflect.PointerTo(to).Implements(textUnmarshalType) {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64, reflect.Float32, reflect.Uint, reflect.Uint64:
	default:
		return data, nil
	}
	v := reflect.New(to)
	if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(fmt.Sprint(data))); err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

// unknownKeys walks the settings against the struct's mapstructure tags and
// reports keys that match no field, with a suggestion when one is close.
func unknownKeys(raw map[string]any, into any) []string {
	var out []string
	walkKeys("", raw, reflect.TypeOf(into), &out)
	return out
}

func walkKeys(prefix string, raw map[string]any, t reflect.Type, out *[]string) {
	switch t.Kind() {
	case reflect.Map:
		for k, v := range raw {
			if sub, ok := v.(map[string]any); ok {
				walkKeys(prefix+k+".", sub, t.Elem(), out)
			}
		}
		return
	case reflect.Slice:
		return
	case reflect.Pointer:
		walkKeys(prefix, raw, t.Elem(), out)
		return
	case reflect.Struct:
	default:
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = t.Field(i).Type
		names = append(names, tag)
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		ft, ok := fields[k]
		if !ok {
			msg := prefix + k + ": unknown key"
			if s := closest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			*out = append(*out, msg)
			continue
		}
		if sub, ok := raw[k].(map[string]any); ok {
			walkKeys(prefix+k+".", sub, ft, out)
		}
		if list, ok := raw[k].([]any); ok && ft.Kind() == reflect.Slice {
			for i, item := range list {
				if sub, ok := item.(map[string]any); ok {
					walkKeys(fmt.Sprintf("%s%s[%d].", prefix, k, i), sub, ft.Elem(), out)
				}
			}
		}
	}
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

type badFunc func(key, format string, args ...any)

func checkAddr(bad badFunc, key, addr string, mayBeEmpty bool) {
	if addr == "" {
		if !mayBeEmpty {
			bad(key, "must not be empty")
		}
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		bad(key, "%q is not host:port (e.g. \":1935\" or \"127.0.0.1:8080\")", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad(key, "%q has an invalid port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		bad(key, "%q has an invalid host", addr)
	}
}

func checkFile(bad badFunc, key, path string) {
	if path == "" {
		bad(key, "must be set")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		bad(key, "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	f.Close()
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func checkAccess(bad badFunc, key string, a AccessConfig) {
	for i, k := range a.Keys {
		if k == "" {
			bad(fmt.Sprintf("%s.keys[%d]", key, i), "empty key")
		}
	}
	for i, c := range a.Allow {
		if _, err := parseNet(c); err != nil {
			bad(fmt.Sprintf("%s.allow[%d]", key, i), "%q is not a CIDR or an IP address", c)
		}
	}
}

// parseNet parses a CIDR or a single address.
func parseNet(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkWebhooks(bad badFunc, key string, w WebhooksConfig) {
	for _, h := range []struct{ name, url string }{
		{"on_publish", w.OnPublish}, {"on_play", w.OnPlay}, {"on_publish_done", w.OnPublishDone},
	} {
		if h.url == "" {
			continue
		}
		u, err := url.Parse(h.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+"."+h.name, "%q is not an http(s) URL", h.url)
		}
	}
	if w.Timeout < 0 {
		bad(key+".timeout", "must not be negative")
	}
}

func checkRecord(bad badFunc, key string, r RecordConfig) {
	switch r.Format {
	case "fmp4", "mp4", "flv":
	default:
		bad(key+".format", "%q is not fmp4, mp4 or flv", r.Format)
	}
	if r.Path == "" || filepath.IsAbs(r.Path) || strings.Contains(r.Path, "..") {
		bad(key+".path", "%q must be a relative template inside storage.dir", r.Path)
	}
	if r.Segment.Duration <= 0 && r.Segment.MaxBytes <= 0 {
		bad(key+".segment", "needs a positive duration or max_bytes")
	}
	if r.Segment.Duration < 0 {
		bad(key+".segment.duration", "must not be negative")
	}
	if r.Segment.MaxBytes < 0 {
		bad(key+".segment.max_bytes", "must not be negative")
	}
	if r.Fragment <= 0 || r.Fragment > time.Minute {
		bad(key+".fragment", "%v is outside (0s, 1m]", r.Fragment)
	}
	if r.SyncEvery <= 0 {
		bad(key+".sync_every", "must be positive")
	}
	if r.MaxAge < 0 {
		bad(key+".max_age", "must not be negative")
	}
	if r.MaxBytes < 0 {
		bad(key+".max_bytes", "must not be negative")
	}
	h := r.OnSegmentDone
	if h.URL != "" {
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".on_segment_done.url", "%q is not an http(s) URL", h.URL)
		}
	}
	if h.Timeout <= 0 {
		bad(key+".on_segment_done.timeout", "must be positive")
	}
}

func checkPush(bad badFunc, key string, targets []relay.Target) {
	names := map[string]bool{}
	for i, t := range targets {
		k := fmt.Sprintf("%s[%d]", key, i)
		if err := t.Validate(); err != nil {
			bad(k, "%v", err)
		}
		if t.Name != "" {
			if names[t.Name] {
				bad(k+".name", "%q is used twice", t.Name)
			}
			names[t.Name] = true
		}
	}
}

func checkPull(bad badFunc, key string, pulls map[string]PullSource) {
	for _, n := range slices.Sorted(maps.Keys(pulls)) {
		p := pulls[n]
		k := key + "." + n
		if strings.ContainsAny(n, "?# ") || n == "" {
			bad(k, "%q is not a stream name", n)
		}
		if err := pull.Validate(pull.Source{URL: p.URL, Transport: p.Transport}); err != nil {
			bad(k, "%v", err)
		}
		if p.CloseAfter < 0 {
			bad(k+".close_after", "must not be negative")
		} else if p.CloseAfter > 0 && !p.OnDemand {
			bad(k+".close_after", "only applies with on_demand: true")
		}
	}
}
