package appliance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ReloadConfig loads path as LoadConfig does and then refuses a file that
// would turn protection off by omission: when the running config has an
// API token, keys or allowed networks for an app's publish or play, or an
// on_publish / on_play webhook (global or an app's), and the new one has
// none, the file must say so in so many words — `token: ""` under http,
// `keys: []` / `allow: []` under the app (or under "*", when the app now
// falls back to it), `on_publish: ""` under the webhooks. A key that is missing
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
	return append(problems, webhookGuard(old, next, doc)...)
}

// authHooks are the webhooks that can refuse a publish or a play, and so
// guard an app like its keys do (on_publish_done only reports).
var authHooks = []struct {
	name string
	get  func(WebhooksConfig) string
}{
	{"on_publish", func(w WebhooksConfig) string { return w.OnPublish }},
	{"on_play", func(w WebhooksConfig) string { return w.OnPlay }},
}

// webhookGuard lists the on_publish / on_play hooks next drops from old
// without doc saying so (`on_publish: ""`), for the global webhooks and
// for each app's own (an app's replace the global ones). Hook URLs are
// not printed: they may carry a secret.
func webhookGuard(old, next *Config, doc map[string]any) []string {
	var problems []string
	explicit := func(path ...string) bool {
		v, ok := docValue(doc, path...)
		return ok && v == ""
	}
	for _, h := range authHooks {
		if h.get(old.Webhooks) != "" && h.get(next.Webhooks) == "" && !explicit("webhooks", h.name) {
			problems = append(problems, fmt.Sprintf(`webhooks.%s: the running config has an %s hook and this file gives none; write %s: "" under webhooks to remove it on purpose`,
				h.name, h.name, h.name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.Apps)) {
		oa := old.Apps[name]
		if oa.Webhooks.isZero() {
			continue // it used the global hooks, guarded above
		}
		na, served := next.App(name)
		if !served {
			continue
		}
		from := name
		if _, own := next.Apps[name]; !own {
			from = "*"
		}
		nw := na.Webhooks
		if nw.isZero() {
			nw = next.Webhooks
		}
		for _, h := range authHooks {
			// Only the app's own section can say so: a truncation can cut
			// the app's hooks and leave a global on_publish: "" above.
			if h.get(oa.Webhooks) == "" || h.get(nw) != "" || explicit("apps", from, "webhooks", h.name) {
				continue
			}
			problems = append(problems, fmt.Sprintf(`apps.%s.webhooks.%s: app %q has an %s hook now and this file gives none; write %s: "" to remove it on purpose`,
				from, h.name, name, h.name, h.name))
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
