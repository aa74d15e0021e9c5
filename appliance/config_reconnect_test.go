package appliance_test

import (
	"testing"

	"github.com/tapedeck/tapedeck/appliance"
)

// rtmp.reconnect_url takes a tcUrl, absolute or relative as Enhanced RTMP
// v2 allows; its default is empty (publishers are sent back here).
func TestConfigReconnectURLGood(t *testing.T) {
	for _, u := range []string{"", "rtmp://edge2.example/live", "rtmps://edge2.example:443/live", "//edge2.example/live", "/live2", "rtmp://10.0.0.2:1936/live?token=x"} {
		p := writeConfig(t, "reconnect.yaml", "rtmp:\n  reconnect_url: \""+u+"\"\n")
		cfg, err := appliance.LoadConfig(p)
		if err != nil {
			t.Errorf("reconnect_url %q: %v", u, err)
			continue
		}
		if cfg.RTMP.ReconnectURL != u {
			t.Errorf("reconnect_url %q loaded as %q", u, cfg.RTMP.ReconnectURL)
		}
	}
}
