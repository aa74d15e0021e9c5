//go:build linux

package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// consoleUploadsConfig uploads to a bucket the S3 server does not have,
// so that segments pile up with "bucket" failures; %s are the endpoint,
// the secret and the free-space floor.
const consoleUploadsConfig = `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
  token: "` + consoleToken + `"
storage:
  dir: "{storage}"
  sweep_every: 1s
  min_free: %s
  upload:
    endpoint: %s
    bucket: missing
    region: us-east-1
    access_key: ` + testenv.S3AccessKey + `
    secret_key: %s
    path_style: true
apps:
  live:
    republish_grace: 0s
    record:
      enabled: true
      format: fmp4
      segment:
        duration: 2s
`

// consoleUploadsMatch is true when the Uploads panel shows what the API
// answers at the same moment: the backlog, the failures by reason, the
// last error and the losses.
const consoleUploadsMatch = `fetch('/api/v1/uploads').then(r => r.json()).then(u => {
	const p = document.getElementById('uploads-panel');
	if (p.hidden) return "";
	const t = p.innerText;
	const want = [u.pending + " segments", "bucket " + u.failures.bucket, u.last_error ? u.last_error.message.slice(0, 40) : "?",
		"Lost before upload\n" + u.lost + " segments"];
	return want.every(w => t.includes(w)) && [t, JSON.stringify(u)];
})`

// TestE2EConsoleUploads opens the console on the built binary uploading
// to a real S3 server (VersityGW) whose bucket is missing: the Uploads
// panel shows the backlog, the "bucket" failures and the last error as
// the API does, without the secret; once the free-space floor cannot be
// met (reloaded to 99%), the segments deleted before their upload are
// shown as lost. A box without uploads hides the panel (TestE2EConsole).
func TestE2EConsoleUploads(t *testing.T) {
	bin := tapedeckBinary(t)
	chromium := testenv.NeedTool(t, "chromium")
	testenv.NeedTool(t, "ffmpeg")
	s3 := testenv.StartS3(t)
	p := hardStart(t, bin, fmt.Sprintf(consoleUploadsConfig, "0", s3.Endpoint, testenv.S3SecretKey))
	bearer := map[string]string{"Authorization": "Bearer " + consoleToken}
	startTool(t, 2*time.Minute, nil, "ffmpeg", publisherArgs("rtmp://"+p.rtmpAddr+"/live/cam1", 90)...)
	hardWaitPublishing(t, p, "live/cam1", bearer)
	ctx := consoleBrowser(t, chromium)
	consoleSignInToken(t, ctx, "http://"+p.httpAddr, "#uploads-panel")

	// A backlog of at least two segments, failing for the bucket.
	got := pollIn[[]string](t, ctx, 40*time.Second, "the Uploads panel shows a backlog of 2 failing on the bucket, as the API",
		`(`+consoleUploadsMatch+`).then(v => v && JSON.parse(v[1]).pending >= 2 && JSON.parse(v[1]).failures.bucket > 0 && v)`)
	t.Logf("Uploads panel:\n%s\nAPI: %s", got[0], got[1])
	if strings.Contains(got[0], testenv.S3SecretKey) {
		t.Errorf("the panel shows the secret:\n%s", got[0])
	}
	for _, want := range []string{"Backlog", "Oldest pending", "Upload rate", "Failures", "Last error", "Lost before upload\n0 segments"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the Uploads panel lacks %q:\n%s", want, got[0])
		}
	}

	// The floor cannot be met: segments go before their upload, counted.
	cfg := fmt.Sprintf(consoleUploadsConfig, "99%", s3.Endpoint, testenv.S3SecretKey)
	cfg = strings.NewReplacer("{rtmp}", p.rtmpAddr, "{http}", p.httpAddr, "{storage}", p.storage).Replace(cfg)
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	got = pollIn[[]string](t, ctx, 30*time.Second, "the Uploads panel shows the segments lost, as the API",
		`(`+consoleUploadsMatch+`).then(v => v && JSON.parse(v[1]).lost >= 1 && v)`)
	t.Logf("Uploads panel after the floor:\n%s", got[0])
	if !evalIn[bool](t, ctx, `document.querySelector('#uploads dd.bad') !== null`) {
		t.Error("losses and the last error are not marked as bad")
	}
	screenshot(t, ctx, consoleArtifacts(t), "uploads.png")
}
