package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/tapedeck/tapedeck/appliance/internal/redact"
)

// envVar is the TAPEDECK_* variable that overrides a key path:
// rtmp.limits.max_connections is TAPEDECK_RTMP_LIMITS_MAX_CONNECTIONS
// (viper's AutomaticEnv with "." replaced by "_"). A list index names
// the list's variable.
func envVar(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	return "TAPEDECK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// fromEnv reports whether the setting v at key is its TAPEDECK_*
// variable's value (viper takes a set, non-empty variable over the file).
func fromEnv(key string, v any) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	e, set := os.LookupEnv(envVar(key))
	return set && e == s
}

// envOrigins names, for each problem whose value came from the
// environment, the variable to blame instead of the file.
func envOrigins(problems []string, raw map[string]any) map[string]string {
	var out map[string]string
	for _, p := range problems {
		key, _, _ := strings.Cut(p, ": ")
		base := key
		if i := strings.IndexByte(base, '['); i >= 0 {
			base = base[:i]
		}
		if v, ok := valueAt(raw, base); ok && fromEnv(base, v) {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = "environment " + envVar(base)
		}
	}
	return out
}

// underAny reports whether key is one of keys or inside one of them.
func underAny(key string, keys []string) bool {
	for _, k := range keys {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// withValue adds the offending value to a problem that does not show it
// ("must not be negative (got -5)"), so every line says what was read.
// Maps, lists and empty values are left out: the key says enough.
func withValue(msg string, raw map[string]any, key string) string {
	v, ok := valueAt(raw, key)
	if !ok || !isScalar(v) || v == nil || v == "" || secretKey(key) {
		return msg
	}
	shown := describe(v)
	if u, ok := v.(string); ok && strings.Contains(u, "://") {
		shown = strconv.Quote(redact.URL(u)) // rtsp://user:pass@…, ?key=…
	}
	// The problem may show the value as decoded: "2m" as 2m0s, "16MB"
	// as 16777216.
	forms := []string{shown, fmt.Sprint(v)}
	if s, ok := v.(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			forms = append(forms, d.String())
		}
		if b, err := ParseByteSize(s); err == nil {
			forms = append(forms, strconv.FormatInt(int64(b), 10))
		}
	}
	for _, f := range forms {
		if strings.Contains(msg, f) {
			return msg
		}
	}
	return msg + " (got " + shown + ")"
}

// problemLines is err as lines to log one by one: a *ConfigError's
// problems, or the error's own text.
func problemLines(err error) []string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Lines()
	}
	return strings.Split(err.Error(), "\n")
}

// noEnv is fromEnv for the file's own values.
func noEnv(string, any) bool { return false }

// appendNew appends the problems not already in list (the file's values
// are checked before and after the merge).
func appendNew(list []string, problems ...string) []string {
	for _, p := range problems {
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	return list
}

// configEnvVars lists the TAPEDECK_* variables set that override a key of
// the default config, for check to say what it checked: names only, as
// one may be the API token.
func configEnvVars() []string {
	v := viper.New()
	v.SetConfigType("yaml")
	if v.ReadConfig(bytes.NewReader(defaultYAML)) != nil {
		return nil
	}
	var out []string
	for _, k := range v.AllKeys() {
		if e, ok := os.LookupEnv(envVar(k)); ok && e != "" {
			out = append(out, envVar(k))
		}
	}
	slices.Sort(out)
	return out
}
