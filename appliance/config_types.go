package appliance

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// typeCheck walks the merged settings against the Config struct before
// they are decoded and reports, in words a user reads, every value that
// cannot become its key's type ("rtmp.chunk_size: "abc" is not a whole
// number"). A value at fault is replaced by its default (or dropped), so
// the decode that follows succeeds and the values around it are still
// validated: one type error must not hide the rest. It never changes the
// maps it is given (they share nested maps with appDefaults); changed
// levels are copied.
type typeCheck struct {
	defaults map[string]any // the settings without the file and environment
	fromEnv  func(key string, v any) bool
	apps     []string // "apps.NAME" of each app seen, for its defaults
	problems []string
	failed   []string // key paths whose value was dropped (no default to put in its place)
}

var (
	segmentConfigType = reflect.TypeOf(SegmentConfig{})
	appConfigType     = reflect.TypeOf(AppConfig{})
)

// checkTypes returns raw with every value of the wrong type replaced, the
// problems found and the keys dropped for want of a default.
func checkTypes(raw, defaults map[string]any, fromEnv func(string, any) bool) (map[string]any, []string, []string) {
	c := &typeCheck{defaults: defaults, fromEnv: fromEnv}
	out, _ := c.walk("", raw, reflect.TypeOf(Config{}))
	m, _ := out.(map[string]any)
	return m, c.problems, c.failed
}

func (c *typeCheck) bad(key, format string, args ...any) {
	c.problems = append(c.problems, key+": "+fmt.Sprintf(format, args...))
}

// walk checks v for type t at key and returns the value to decode, and
// false when v is unusable (the caller puts the default in its place).
func (c *typeCheck) walk(key string, v any, t reflect.Type) (any, bool) {
	if v == nil {
		return nil, true // "key:" with no value: the type's zero value
	}
	if m, ok := v.(map[any]any); ok {
		v = stringKeys(m) // YAML keys that are not strings: "{0: x}"
	}
	switch {
	case t == durationType:
		return c.duration(key, v)
	case t == byteSizeType:
		return c.byteSize(key, v)
	case reflect.PointerTo(t).Implements(textUnmarshalType):
		if !isScalar(v) {
			c.bad(key, "must be a single value, not %s", describe(v))
			return nil, false
		}
		if _, err := textHook(reflect.TypeOf(v), t, v); err != nil {
			c.bad(key, "%v", err)
			return nil, false
		}
		return v, true
	case t == segmentConfigType && isScalar(v):
		// "segment: 10s", as nginx-rtmp's record_interval is written.
		if _, ok := c.duration(key, v); !ok {
			return nil, false
		}
		return map[string]any{"duration": v}, true
	}
	switch t.Kind() {
	case reflect.Bool:
		return c.boolean(key, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return c.integer(key, v, t)
	case reflect.Float32, reflect.Float64:
		if f, ok := number(v); ok && !math.IsNaN(f) {
			return v, true
		}
		if s, ok := v.(string); ok {
			if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return v, true
			}
		}
		c.bad(key, "%s is not a number", describe(v))
		return nil, false
	case reflect.String:
		if !isScalar(v) {
			c.bad(key, "must be a single value, not %s", describe(v))
			return nil, false
		}
		return v, true
	case reflect.Slice:
		return c.list(key, v, t)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.bad(key, "must be a map of names to settings, not %s", describe(v))
			return nil, false
		}
		if t.Elem() == appConfigType {
			for name := range m {
				c.apps = append(c.apps, joinKey(key, name))
			}
		}
		return c.mapOf(key, m, func(string) (reflect.Type, bool) { return t.Elem(), true }), true
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.bad(key, "must be a map of settings (keys indented under it), not %s", describe(v))
			return nil, false
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			if tag := t.Field(i).Tag.Get("mapstructure"); tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		return c.mapOf(key, m, func(k string) (reflect.Type, bool) {
			// Matched as the decoder matches them, without regard to case;
			// unknown keys are unknownKeys' to report.
			ft, ok := fields[strings.ToLower(k)]
			return ft, ok
		}), true
	}
	return v, true
}

// mapOf checks each value of m and returns m, or a copy with the values
// at fault replaced.
func (c *typeCheck) mapOf(key string, m map[string]any, typeOf func(string) (reflect.Type, bool)) map[string]any {
	out := m
	for _, k := range sortedKeys(m) {
		t, known := typeOf(k)
		if !known {
			continue
		}
		sub := joinKey(key, k)
		nv, ok := c.walk(sub, m[k], t)
		if !ok {
			// The default stands in, and is validated like any value; a
			// key without one is dropped and its zero value not checked
			// (it would be reported a second time).
			d, has := c.defaultAt(sub)
			if !has {
				c.failed = append(c.failed, sub)
				d = nil
			}
			nv = d
		}
		if !sameValue(nv, m[k]) {
			if sameMap(out, m) {
				out = maps.Clone(m)
			}
			if nv == nil && !ok {
				delete(out, k)
			} else {
				out[k] = nv
			}
		}
	}
	return out
}

func (c *typeCheck) list(key string, v any, t reflect.Type) (any, bool) {
	items, ok := v.([]any)
	if !ok {
		if s, isString := v.(string); isString && c.fromEnv(key, v) {
			// An environment variable holds a list as "a,b c".
			items = nil
			for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
				items = append(items, f)
			}
		} else if isScalar(v) {
			shown, example := describe(v)+" is", fmt.Sprint(v)
			if secretKey(key) {
				shown, example = "a key (not shown) is", "KEY"
			}
			c.bad(key, "%s one value where a list is expected: write [%s], or one \"- %s\" line per item", shown, example, example)
			return nil, false
		} else {
			c.bad(key, "must be a list, not %s", describe(v))
			return nil, false
		}
	}
	out, copied := items, false
	allOK := true
	for i, item := range items {
		nv, ok := c.walk(fmt.Sprintf("%s[%d]", key, i), item, t.Elem())
		if !ok {
			allOK = false
			continue
		}
		if !sameValue(nv, item) {
			if !copied {
				out, copied = slices.Clone(items), true
			}
			out[i] = nv
		}
	}
	if !allOK {
		// The whole list falls back to its default: an item dropped would
		// shift the indexes every other problem names.
		return nil, false
	}
	return out, true
}

func (c *typeCheck) duration(key string, v any) (any, bool) {
	if _, isNum := number(v); !isNum {
		if _, isString := v.(string); !isString {
			c.bad(key, "%s is not a duration (e.g. 500ms, 10s, 1m30s)", describe(v))
			return nil, false
		}
	}
	if _, err := durationHook(reflect.TypeOf(v), durationType, v); err != nil {
		c.bad(key, "%v", err)
		return nil, false
	}
	return v, true
}

func (c *typeCheck) byteSize(key string, v any) (any, bool) {
	if s, ok := v.(string); ok {
		if _, err := ParseByteSize(s); err != nil {
			c.bad(key, "%v", err)
			return nil, false
		}
		return v, true
	}
	if f, ok := number(v); ok && f == math.Trunc(f) && f >= 0 {
		return v, true
	}
	c.bad(key, "%s is not a size (e.g. 512KB, 8MB, 2GB)", describe(v))
	return nil, false
}

func (c *typeCheck) boolean(key string, v any) (any, bool) {
	switch b := v.(type) {
	case bool:
		return v, true
	case string:
		if _, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return v, true
		}
	case int:
		if b == 0 || b == 1 {
			return v, true
		}
	}
	c.bad(key, "%s is not true or false", describe(v))
	return nil, false
}

func (c *typeCheck) integer(key string, v any, t reflect.Type) (any, bool) {
	f, isNum := number(v)
	s, isString := v.(string)
	if isString {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if i, ierr := strconv.ParseInt(strings.TrimSpace(s), 0, 64); ierr == nil {
			n, err = float64(i), nil
		}
		f, isNum = n, err == nil
	}
	if !isNum || f != math.Trunc(f) {
		c.bad(key, "%s is not a whole number", describe(v))
		return nil, false
	}
	lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		lo, hi = -math.Exp2(float64(t.Bits()-1)), math.Exp2(float64(t.Bits()-1))-1
	default:
		lo, hi = 0, math.Exp2(float64(t.Bits()))-1
	}
	if f < lo || f > hi {
		c.bad(key, "%s is outside %.0f..%.0f", describe(v), lo, hi)
		return nil, false
	}
	if isString {
		return int64(f), true // "4096.0" or "0x10", which the decoder would not parse
	}
	return v, true
}

// defaultAt is the default value at a key path; apps.NAME.… reads the
// app defaults every app gets.
func (c *typeCheck) defaultAt(key string) (any, bool) {
	for _, app := range c.apps {
		if rest, ok := strings.CutPrefix(key, app+"."); ok {
			return valueAt(appDefaults, rest)
		}
	}
	return valueAt(c.defaults, key)
}

// valueAt finds a dotted key path ("apps.live.publish.keys[0]") in a
// settings tree. Map keys may contain dots (app names): the longest key
// that matches wins.
func valueAt(tree any, key string) (any, bool) {
	cur := tree
	for key != "" {
		if key[0] == '[' {
			end := strings.IndexByte(key, ']')
			list, ok := cur.([]any)
			if end < 0 || !ok {
				return nil, false
			}
			i, err := strconv.Atoi(key[1:end])
			if err != nil || i < 0 || i >= len(list) {
				return nil, false
			}
			cur, key = list[i], strings.TrimPrefix(key[end+1:], ".")
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		best := ""
		for k := range m {
			if len(k) > len(best) && strings.HasPrefix(key, k) &&
				(len(key) == len(k) || key[len(k)] == '.' || key[len(k)] == '[') {
				best = k
			}
		}
		if best == "" {
			return nil, false
		}
		cur, key = m[best], strings.TrimPrefix(key[len(best):], ".")
	}
	return cur, true
}

// describe shows a value as the user wrote it: strings quoted.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "nothing"
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Map, reflect.Struct:
		return "a map"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return fmt.Sprint(v)
}

// secretKey reports whether key holds a secret (publish and play keys, the
// API token, console passwords and their hashes, S3 credentials), whose
// value a problem must not print: check's output and the reload log are
// read by more people than the file is.
func secretKey(key string) bool {
	if i := strings.LastIndexByte(key, '['); i >= 0 && strings.HasSuffix(key, "]") {
		key = key[:i] // keys[2]: an element of the list
	}
	if key == "http.token" || strings.HasSuffix(key, ".keys") {
		return true
	}
	switch key[strings.LastIndexByte(key, '.')+1:] {
	case "password", "password_hash", "secret_key", "access_key", "token":
		return true
	}
	return false
}

func isScalar(v any) bool {
	if v == nil {
		return true
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Func, reflect.Pointer, reflect.Struct:
		return false
	}
	return true
}

func stringKeys(m map[any]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[fmt.Sprint(k)] = v
	}
	return out
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// sameValue reports whether the walk left a value as it was (maps and
// lists by identity, so an unchanged level is not copied).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && sameMap(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	}
	if !isScalar(a) || !isScalar(b) {
		return false
	}
	return a == b
}

func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
