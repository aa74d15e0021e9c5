//go:build linux

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestE2ENginxPushIntoTapedeck: nginx-rtmp's push (an independent RTMP
// client whose AMF reader parses our connect _result, Enhanced RTMP
// properties and all) relays ffmpeg's publish into tapedeck, and ffprobe
// plays it from tapedeck.
func TestE2ENginxPushIntoTapedeck(t *testing.T) {
	testenv.NeedFile(t, "/usr/lib/nginx/modules/ngx_rtmp_module.so", "libnginx-mod-rtmp")
	bin := tapedeckBinary(t)
	p := hardStart(t, bin, ertmpConfig)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	conf := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
error_log %s info;
pid %s;
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:%d;
    application live {
      live on;
      push rtmp://%s/live;
    }
  }
}
`, filepath.Join(dir, "logs", "error.log"), filepath.Join(dir, "nginx.pid"), port, p.rtmpAddr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	hardStartTool(t, "nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	testenv.Eventually(t, 5*time.Second, "nginx listening", func() bool {
		nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://127.0.0.1:"+strconv.Itoa(port)+"/live/cam", 10)...)
	hardWaitPublishing(t, p, "live/cam", nil)
	res := parseProbe(t, startProbe(t, "rtmp://"+p.rtmpAddr+"/live/cam", 2))
	v, a := res.entries("frame", "video"), res.entries("frame", "audio")
	t.Logf("ffprobe from tapedeck, fed by nginx-rtmp push: %d video, %d audio frames", len(v), len(a))
	if len(v) < 30 || len(a) < 60 || !v[0].key {
		t.Errorf("ffprobe via nginx push: %d video (first key %v), %d audio frames; want 30+ from a keyframe and 60+", len(v), len(v) > 0 && v[0].key, len(a))
	}
}
