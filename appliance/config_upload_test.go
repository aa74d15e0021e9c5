package appliance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tapedeck/tapedeck/appliance"
)

const goodUpload = "    endpoint: https://s3.eu-west-1.amazonaws.com\n    bucket: tapes\n    access_key: AKIAEXAMPLE\n"

// Every upload key is checked by its path, storage.upload and an app's
// record.upload alike; an empty endpoint is off and checks nothing.
func TestConfigUploadProblems(t *testing.T) {
	dir := t.TempDir()
	emptyKey := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(emptyKey, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"off checks nothing", "storage:\n  upload:\n    endpoint: \"\"\n    bucket: X\n", nil},
		{"endpoint not a URL", "storage:\n  upload:\n    endpoint: s3.amazonaws.com\n    bucket: tapes\n    access_key: a\n    secret_key: b\n",
			[]string{`storage.upload.endpoint: "s3.amazonaws.com" is not an http(s)://host[:port] URL without path or credentials`}},
		{"endpoint with a path", "storage:\n  upload:\n    endpoint: https://h/tapes\n    bucket: tapes\n    access_key: a\n    secret_key: b\n",
			[]string{`storage.upload.endpoint: "https://h/tapes" is not an http(s)://host[:port] URL without path or credentials`}},
		{"bad bucket, no secret", "storage:\n  upload:\n    endpoint: http://10.0.0.5:9000\n    bucket: My_Tapes\n    access_key: a\n",
			[]string{`storage.upload.bucket: "My_Tapes" is not a bucket name (lower-case letters, digits, . and -)`,
				"storage.upload.secret_key: must be set (or secret_key_file, or the environment)"}},
		{"both secrets", "storage:\n  upload:\n" + goodUpload + "    secret_key: s\n    secret_key_file: " + emptyKey + "\n",
			[]string{"storage.upload.secret_key_file: set secret_key or secret_key_file, not both (got " + strconv.Quote(emptyKey) + ")"}},
		{"empty secret file", "storage:\n  upload:\n" + goodUpload + "    secret_key_file: " + emptyKey + "\n",
			[]string{"storage.upload.secret_key_file: " + emptyKey + " holds no key on its first line"}},
		{"missing secret file", "storage:\n  upload:\n" + goodUpload + "    secret_key_file: /nonexistent/s3.key\n",
			[]string{"storage.upload.secret_key_file: cannot read /nonexistent/s3.key: no such file or directory"}},
		{"limits", "storage:\n  upload:\n" + goodUpload + "    secret_key: s\n    part_size: 1MB\n    concurrency: 99\n    max_rate: 1KB\n    storage_class: cold\n    prefix: \"{host}/\"\n",
			[]string{
				"storage.upload.concurrency: 99 is outside 0..16",
				"storage.upload.max_rate: 1024 is below 64KB/s (0 = unlimited)",
				"storage.upload.part_size: 1048576 is outside 5MB..512MB (S3 needs parts of at least 5MB)",
				`storage.upload.prefix: "{host}/" has an unknown field (known: {box} {app} {stream} {YYYY} {MM} {DD} {hh} {mm} {ss})`,
				`storage.upload.storage_class: "cold" is not an S3 storage class (e.g. STANDARD_IA)`,
			}},
		{"app section by its path", "apps:\n  cam:\n    record:\n      upload:\n        endpoint: ftp://x\n        bucket: tapes\n        access_key: a\n        secret_key: b\n",
			[]string{`apps.cam.record.upload.endpoint: "ftp://x" is not an http(s)://host[:port] URL without path or credentials`}},
		{"unknown key in an app section", "apps:\n  cam:\n    record:\n      upload:\n        endpont: http://x\n",
			[]string{"apps.cam.record.upload.endpont: unknown key (did you mean endpoint?)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, "tapedeck.yaml", c.yaml)
			if c.want == nil {
				if _, err := appliance.LoadConfig(p); err != nil {
					t.Fatal(err)
				}
				return
			}
			expectProblems(t, p, p, c.want)
		})
	}
}

// The secret can come from the environment for storage.upload (the
// file then need not hold it), and the default config uploads nothing.
func TestConfigUploadSecretFromEnv(t *testing.T) {
	t.Setenv("TAPEDECK_STORAGE_UPLOAD_SECRET_KEY", "from-env-secret")
	cfg, err := appliance.LoadConfig(writeConfig(t, "tapedeck.yaml", "storage:\n  upload:\n"+goodUpload))
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Storage.Upload; u.SecretKey != "from-env-secret" || u.PartSize != 8<<20 || u.Concurrency != 2 {
		t.Fatalf("upload: part_size %d, concurrency %d, secret from the environment %v", u.PartSize, u.Concurrency, u.SecretKey == "from-env-secret")
	}
	if s := fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(s, "from-env-secret") {
		t.Fatalf("the secret shows when the config is printed: %s", s)
	}
	def, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if def.Storage.Upload.Endpoint != "" {
		t.Fatalf("the default config uploads to %q", def.Storage.Upload.Endpoint)
	}
}
