package appliance_test

import (
	"strings"
	"testing"
)

// reloadHooksRunning has global on_publish/on_play hooks and an app with
// its own, which replace the global ones for it.
const reloadHooksRunning = `
webhooks:
  on_publish: http://auth.local/pub?secret=abc
  on_play: http://auth.local/play
apps:
  live:
    gop_cache: true
  cam:
    webhooks:
      on_publish: http://auth.local/cam
`

// A reload that drops an on_publish / on_play hook — the webhooks that can
// refuse a publish or play — by omission is refused like one that drops
// keys; written as on_publish: "" it is applied.
func TestReloadGuardWebhooks(t *testing.T) {
	running := reloadTLoad(t, reloadHooksRunning)
	const (
		globalPub  = `webhooks.on_publish: the running config has an on_publish hook and this file gives none; write on_publish: "" under webhooks to remove it on purpose`
		globalPlay = `webhooks.on_play: the running config has an on_play hook and this file gives none; write on_play: "" under webhooks to remove it on purpose`
		camPub     = `apps.cam.webhooks.on_publish: app "cam" has an on_publish hook now and this file gives none; write on_publish: "" to remove it on purpose`
	)
	runReloadCases(t, running, []reloadCase{
		{"same file", reloadHooksRunning, nil},
		// cam falls back to the global on_publish: still guarded, not dropped.
		{"cut off after apps.live", "webhooks:\n  on_publish: http://auth.local/pub?secret=abc\n  on_play: http://auth.local/play\napps:\n  live:\n    gop_cache: true\n  cam:\n", nil},
		{"the global hooks removed, the app's cut off", "webhooks:\n  on_publish: \"\"\n  on_play: \"\"\napps:\n  live:\n    gop_cache: true\n  cam:\n", []string{camPub}},
		{"cut off before the webhooks", "rtmp:\n  listen: \":1935\"\n", []string{globalPub, globalPlay}},
		{"hook left without a value", strings.Replace(reloadHooksRunning, "  on_play: http://auth.local/play", "  on_play:", 1), []string{globalPlay}},
		{"the app's hook gone, the global one still there", strings.Replace(reloadHooksRunning, "    webhooks:\n      on_publish: http://auth.local/cam\n", "    gop_cache: true\n", 1), nil},
		{"explicit removal everywhere", "webhooks:\n  on_publish: \"\"\n  on_play: \"\"\napps:\n  live:\n    gop_cache: true\n  cam:\n    webhooks:\n      on_publish: \"\"\n", nil},
		// Only the app's own section speaks for its hooks.
		{"a global removal does not cover the app", "webhooks:\n  on_publish: \"\"\n  on_play: \"\"\napps:\n  live:\n    gop_cache: true\n  cam:\n    gop_cache: true\n", []string{camPub}},
		{"hook moved to another URL", strings.Replace(reloadHooksRunning, "/cam", "/cam2", 1), nil},
		{"cam now served by * without hooks", "webhooks:\n  on_publish: \"\"\n  on_play: \"\"\napps:\n  \"*\":\n    gop_cache: true\n", []string{
			`apps.*.webhooks.on_publish: app "cam" has an on_publish hook now and this file gives none; write on_publish: "" to remove it on purpose`,
		}},
		{"cam now served by * that says so", "webhooks:\n  on_publish: \"\"\n  on_play: \"\"\napps:\n  \"*\":\n    webhooks:\n      on_publish: \"\"\n", nil},
	})
}
