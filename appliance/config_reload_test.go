package appliance_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/appliance"
)

// reloadTRunning is a running config with a token and keys on two apps.
const reloadTRunning = `
http:
  token: t0ken
apps:
  live:
    publish:
      keys: [s3cret]
  "*":
    play:
      allow: ["10.0.0.0/8"]
`

func reloadTLoad(t *testing.T, text string) *appliance.Config {
	t.Helper()
	cfg, err := appliance.LoadConfig(writeConfig(t, "running.yaml", text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestReloadGuard(t *testing.T) {
	running := reloadTLoad(t, reloadTRunning)
	runReloadCases(t, running, []reloadCase{
		{"same file", reloadTRunning, nil},
		// Without apps the default "live" (no keys) serves live; "*" is
		// gone and nothing else is served, which closes, not opens.
		{"cut off before apps", "http:\n  token: t0ken\n", []string{
			`apps.live.publish.keys: app "live" has publish keys now and this file gives none; write keys: [] to remove them on purpose`,
		}},
		{"cut off before the token", "rtmp:\n  listen: \":1935\"\n", []string{
			`http.token: the running config has a token and this file gives none; write token: "" to remove it on purpose`,
			`apps.live.publish.keys: app "live" has publish keys now and this file gives none; write keys: [] to remove them on purpose`,
		}},
		{"keys left without a value", "http:\n  token: t0ken\napps:\n  live:\n    publish:\n      keys:\n  \"*\":\n    play:\n      allow: [\"10.0.0.0/8\"]\n", []string{
			`apps.live.publish.keys: app "live" has publish keys now and this file gives none; write keys: [] to remove them on purpose`,
		}},
		{"token without a value", "http:\n  token:\napps:\n  live:\n    publish:\n      keys: [s3cret]\n  \"*\":\n    play:\n      allow: [\"10.0.0.0/8\"]\n", []string{
			`http.token: the running config has a token and this file gives none; write token: "" to remove it on purpose`,
		}},
		{"explicit removal", "http:\n  token: \"\"\napps:\n  live:\n    publish:\n      keys: []\n  \"*\":\n    play:\n      allow: []\n", nil},
		{"app now served by * with keys removed there", "http:\n  token: t0ken\napps:\n  \"*\":\n    play:\n      allow: [\"10.0.0.0/8\"]\n", []string{
			`apps.*.publish.keys: app "live" has publish keys now and this file gives none; write keys: [] to remove them on purpose`,
		}},
		{"app now served by * that says so", "http:\n  token: t0ken\napps:\n  \"*\":\n    publish:\n      keys: []\n    play:\n      allow: [\"10.0.0.0/8\"]\n", nil},
		{"keys changed, not removed", strings.Replace(reloadTRunning, "s3cret", "other", 1), nil},
		{"new token", strings.Replace(reloadTRunning, "t0ken", "n3w", 1), nil},
	})
}

// reloadCase is a file reloaded over a running config and the problems
// the refusal must list (nil: the reload is applied).
type reloadCase struct {
	name string
	yaml string
	want []string
}

func runReloadCases(t *testing.T, running *appliance.Config, cases []reloadCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, "tapedeck.yaml", c.yaml)
			next, err := appliance.ReloadConfig(p, running)
			if c.want == nil {
				if err != nil || next == nil {
					t.Fatalf("ReloadConfig refused a reload it should apply: %v", err)
				}
				return
			}
			if next != nil {
				t.Errorf("ReloadConfig returned a config with its refusal")
			}
			var ce *appliance.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ReloadConfig: %T %v, want a *appliance.ConfigError", err, err)
			}
			if ce.Source != p || !slices.Equal(ce.Problems, c.want) {
				t.Errorf("refusal from %s:\n  got  %q\n  want %q", ce.Source, ce.Problems, c.want)
			}
			// Neither keys, the token nor hook URLs (they may carry one).
			for _, secret := range []string{"s3cret", "t0ken", "auth.local"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the refusal prints %q: %v", secret, err)
				}
			}
		})
	}
}

// A file that is empty on reload is refused like any broken file; the
// guard never sees it.
func TestReloadEmptyFileRefused(t *testing.T) {
	running := reloadTLoad(t, reloadTRunning)
	p := writeConfig(t, "tapedeck.yaml", "")
	if next, err := appliance.ReloadConfig(p, running); next != nil || err == nil || !strings.Contains(err.Error(), "the file is empty: refused") {
		t.Fatalf("ReloadConfig of an empty file: %v, %v", next, err)
	}
}
