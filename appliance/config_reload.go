package appliance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ReloadConfig loads path as LoadConfig does and then refuses a file that
// would turn protection off by omission: when the running config has an
// API token, or keys or allowed networks for an app's publish or play,
// and the new one has none, the file must say so in so many words —
// `token: ""` under http, or `keys: []` / `allow: []` under the app (or
// under "*", when the app now falls back to it). A key that is missing
// or written without a value (`keys:`) is what a cut-off save leaves, so
// it keeps the reload from happening. The running config is the caller's
// to keep.
func ReloadConfig(path string, running *Config) (*Config, error) {
	next, doc, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if problems := reloadGuard(running, next, doc); len(problems) > 0 {
		return nil, &ConfigError{Source: next.Source, Problems: problems}
	}
	return next, nil
}

// accessRule is one list of AccessConfig that, emptied, opens an app.
type accessRule struct {
	side, list string
	get        func(AppConfig) []string
}

var guardedAccess = []accessRule{
	{"publish", "keys", func(a AppConfig) []string { return a.Publish.Keys }},
	{"publish", "allow", func(a AppConfig) []string { return a.Publish.Allow }},
	{"play", "keys", func(a AppConfig) []string { return a.Play.Keys }},
	{"play", "allow", func(a AppConfig) []string { return a.Play.Allow }},
}

// reloadGuard lists what next drops from old without doc saying so.
func reloadGuard(old, next *Config, doc map[string]any) []string {
	var problems []string
	if old.HTTP.Token != "" && next.HTTP.Token == "" {
		if v, ok := docValue(doc, "http", "token"); !ok || v != "" {
			problems = append(problems, `http.token: the running config has a token and this file gives none; write token: "" to remove it on purpose`)
		}
	}
	problems = append(problems, usersReloadProblem(old, next, doc)...)
	for _, name := range slices.Sorted(maps.Keys(old.Apps)) {
		oa := old.Apps[name]
		na, served := next.App(name)
		if !served {
			continue // the app is gone and nothing else serves it: closed, not opened
		}
		from := name
		if _, own := next.Apps[name]; !own {
			from = "*"
		}
		for _, r := range guardedAccess {
			if len(r.get(oa)) == 0 || len(r.get(na)) > 0 {
				continue
			}
			if v, ok := docValue(doc, "apps", from, r.side, r.list); ok {
				if l, isList := v.([]any); isList && len(l) == 0 {
					continue
				}
			}
			key := fmt.Sprintf("apps.%s.%s.%s", from, r.side, r.list)
			problems = append(problems, fmt.Sprintf("%s: app %q has %s %s now and this file gives none; write %s: [] to remove them on purpose",
				key, name, r.side, r.list, r.list))
		}
	}
	return problems
}

// docValue finds a value in the file's YAML document. Settings keys are
// matched without regard to case, as viper does; the app name (the
// element after "apps") exactly, as LoadConfig keeps it.
func docValue(doc map[string]any, path ...string) (any, bool) {
	var cur any = doc
	for i, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		v, found := m[k]
		if !found && !(i > 0 && path[i-1] == "apps") {
			for mk, mv := range m {
				if strings.EqualFold(mk, k) {
					v, found = mv, true
					break
				}
			}
		}
		if !found {
			return nil, false
		}
		cur = v
	}
	return cur, true
}
