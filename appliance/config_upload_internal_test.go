package appliance

import (
	"os"
	"path/filepath"
	"testing"
)

// An app's record.upload replaces storage.upload whole; one with an empty
// endpoint uploads nothing; apps without one, and "*", follow the global
// one; secret_key_file is read when the settings are resolved.
func TestUploadTargetPerApp(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cam.key")
	if err := os.WriteFile(keyFile, []byte("cam-secret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `storage:
  upload:
    endpoint: https://s3.eu-west-1.amazonaws.com
    bucket: fleet
    access_key: AK
    secret_key: global-secret
    prefix: "{box}/"
apps:
  live: {}
  cam:
    record:
      upload:
        endpoint: http://10.0.0.5:9000
        bucket: cams
        access_key: CAMAK
        secret_key_file: ` + keyFile + `
        path_style: true
  quiet:
    record:
      upload:
        endpoint: ""
`
	p := filepath.Join(dir, "tapedeck.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		app, name, bucket, secret string
		pathStyle                 bool
		ok                        bool
	}{
		{"live", "storage.upload", "fleet", "global-secret", false, true},
		{"cam", "apps.cam.record.upload", "cams", "cam-secret", true, true},
		{"quiet", "", "", "", false, false},
		{"nosuch", "", "", "", false, false}, // no app, no "*": nothing is recorded
	} {
		tg, ok, err := cfg.uploadTarget(tc.app, "pi-7")
		if err != nil {
			t.Fatalf("%s: %v", tc.app, err)
		}
		if ok != tc.ok || tg.Name != tc.name || tg.Bucket != tc.bucket || tg.SecretKey != tc.secret || tg.PathStyle != tc.pathStyle {
			t.Errorf("%s: target %q bucket %q secret ok %v path_style %v, uploads %v", tc.app, tg.Name, tg.Bucket, tg.SecretKey == tc.secret, tg.PathStyle, ok)
		}
		if ok && tg.Box != "pi-7" {
			t.Errorf("%s: box %q", tc.app, tg.Box)
		}
	}
	if !cfg.uploadsEnabled() {
		t.Error("uploadsEnabled false")
	}
}
