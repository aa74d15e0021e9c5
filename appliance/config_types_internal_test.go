package appliance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// FuzzConfigTypes checks checkTypes' promise: whatever a file holds, the
// settings it returns decode without an error (so no app is dropped and
// every value problem is still found), and every problem it reports is
// one "key.path: problem" line.
func FuzzConfigTypes(f *testing.F) {
	for _, seed := range []string{
		"rtmp:\n  chunk_size: abc\n  limits: {max_connections: -5}\n",
		"rtmp: [a]\nlog: {level: {x: 1}}\n",
		"apps:\n  live:\n    gop_cache: maybe\n    publish: {keys: secret}\n    record: {segment: 10s}\n",
		"apps:\n  live:\n    push: [rtmp://x/y, {url: [1]}]\n    pull: {cam: {url: 5, on_demand: 3}}\n",
		"storage: {max_bytes: 1.5, min_free: [1], sweep_every: true}\n",
		"http: {max_connections: 1e30, pprof: \"yes\"}\n",
	} {
		f.Add(seed)
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		f.Fatal(err)
	}
	defaults := v.AllSettings()
	f.Fuzz(func(t *testing.T, text string) {
		var doc map[string]any
		if yaml.Unmarshal([]byte(text), &doc) != nil || doc == nil {
			return
		}
		doc = lowerKeys(doc).(map[string]any)
		if apps, ok := doc["apps"].(map[string]any); ok {
			for name, a := range apps {
				am, _ := a.(map[string]any)
				apps[name] = withDefaults(am)
			}
		}
		typed, problems, _ := checkTypes(doc, defaults, noEnv)
		var cfg Config
		if err := decodeConfig(typed, &cfg); err != nil {
			t.Fatalf("decode after checkTypes (problems %q): %v", problems, err)
		}
		for _, p := range problems {
			if key, msg, ok := strings.Cut(p, ": "); !ok || key == "" || msg == "" || strings.Contains(p, "\n") {
				t.Errorf("problem %q is not one \"key: problem\" line", p)
			}
		}
	})
}
