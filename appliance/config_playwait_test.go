package appliance_test

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// apps.<app>.play_wait: a duration, 0 by default (wait as long as the
// player stays), never negative; errors name the key and the file.
func TestConfigPlayWait(t *testing.T) {
	p := writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    play_wait: -1s\n")
	expectProblems(t, p, p, []string{"apps.live.play_wait: must not be negative (0 waits for a publisher as long as the player stays) (got \"-1s\")"})
	p = writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    play_wait: soon\n")
	expectProblems(t, p, p, []string{`apps.live.play_wait: "soon" is not a duration (e.g. 500ms, 10s, 1m30s)`})

	p = writeConfig(t, "tapedeck.yaml", "apps:\n  live:\n    play_wait: 15s\n  cam:\n    gop_cache: true\n")
	cfg, err := appliance.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := cfg.App("live"); live.PlayWait != 15*time.Second {
		t.Errorf("apps.live.play_wait = %v, want 15s", live.PlayWait)
	}
	if cam, _ := cfg.App("cam"); cam.PlayWait != 0 {
		t.Errorf("apps.cam.play_wait = %v, want the default 0", cam.PlayWait)
	}
	def, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := def.App("live"); live.PlayWait != 0 {
		t.Errorf("default apps.live.play_wait = %v, want 0", live.PlayWait)
	}
}
