package appliance

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/tapedeck/tapedeck/appliance/internal/redact"
	"github.com/tapedeck/tapedeck/appliance/upload"
)

// UploadConfig ships every closed segment to an S3-compatible bucket
// (storage.upload for all apps; apps.<app>.record.upload replaces it for
// one app). An empty endpoint turns uploads off.
type UploadConfig struct {
	// Endpoint is the server's URL: https://s3.eu-west-1.amazonaws.com,
	// http://10.0.0.5:9000. Empty: no uploads.
	Endpoint string `mapstructure:"endpoint"`
	Bucket   string `mapstructure:"bucket"`
	Region   string `mapstructure:"region"`
	// AccessKey and SecretKey sign the requests. The secret may come from
	// SecretKeyFile instead (its first line), or from the environment
	// (TAPEDECK_STORAGE_UPLOAD_SECRET_KEY for storage.upload). Never logged.
	AccessKey     string `mapstructure:"access_key"`
	SecretKey     string `mapstructure:"secret_key"`
	SecretKeyFile string `mapstructure:"secret_key_file"`
	// Prefix goes before the segment's path under storage.dir in the
	// object key; fields {box} (host name) {app} {stream} {YYYY} {MM} {DD}
	// {hh} {mm} {ss} (the segment's start).
	Prefix    string `mapstructure:"prefix"`
	PathStyle bool   `mapstructure:"path_style"`
	// CAFile adds certificates to the system roots (a self-hosted server).
	CAFile      string   `mapstructure:"ca_file"`
	PartSize    ByteSize `mapstructure:"part_size"`   // multipart part; 0 = 8MB
	Concurrency int      `mapstructure:"concurrency"` // parts in flight; 0 = 2
	MaxRate     ByteSize `mapstructure:"max_rate"`    // bytes/s over all uploads; 0 = unlimited
	// DeleteAfterUpload removes the local file once its upload is verified.
	DeleteAfterUpload bool   `mapstructure:"delete_after_upload"`
	StorageClass      string `mapstructure:"storage_class"`
}

// String prints the settings with the secret masked, so that a config
// printed whole (%v, a debug line) never shows it.
func (u UploadConfig) String() string {
	if u.SecretKey != "" {
		u.SecretKey = redact.Mask
	}
	type plain UploadConfig // without this method
	return fmt.Sprintf("%+v", plain(u))
}

// enabled reports whether this config uploads at all.
func (u *UploadConfig) enabled() bool { return u != nil && u.Endpoint != "" }

// upload returns the upload settings in force for app: its own
// record.upload, else storage.upload; nil when it uploads nothing.
func (c *Config) upload(app string) *UploadConfig {
	ac, ok := c.App(app)
	if !ok {
		return nil
	}
	if u := ac.Record.Upload; u != nil {
		if !u.enabled() {
			return nil
		}
		return u
	}
	if u := &c.Storage.Upload; u.enabled() {
		return u
	}
	return nil
}

// uploadTarget resolves app's upload settings for the uploader; key is
// the config key path they came from, named in the uploader's messages.
func (c *Config) uploadTarget(app, box string) (upload.Target, bool, error) {
	u := c.upload(app)
	if u == nil {
		return upload.Target{}, false, nil
	}
	key := "storage.upload"
	if ac, _ := c.App(app); ac.Record.Upload != nil {
		key = "apps." + app + ".record.upload"
		if _, own := c.Apps[app]; !own {
			key = "apps.*.record.upload"
		}
	}
	secret, err := u.secret()
	if err != nil {
		return upload.Target{}, false, fmt.Errorf("%s.secret_key_file: %w", key, err)
	}
	return upload.Target{
		Name: key, Endpoint: u.Endpoint, Bucket: u.Bucket, Region: u.Region,
		AccessKey: u.AccessKey, SecretKey: secret, Prefix: u.Prefix, Box: box,
		PathStyle: u.PathStyle, CAFile: u.CAFile, PartSize: int64(u.PartSize),
		Concurrency: u.Concurrency, MaxRate: int64(u.MaxRate),
		DeleteAfterUpload: u.DeleteAfterUpload, StorageClass: u.StorageClass,
	}, true, nil
}

// secret is the secret key: secret_key, else the first line of
// secret_key_file.
func (u *UploadConfig) secret() (string, error) {
	if u.SecretKey != "" || u.SecretKeyFile == "" {
		return u.SecretKey, nil
	}
	b, err := os.ReadFile(u.SecretKeyFile)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", u.SecretKeyFile, unwrapPathError(err))
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// checkUpload validates one upload section; key is its path.
func checkUpload(bad badFunc, key string, u *UploadConfig) {
	if !u.enabled() {
		return
	}
	if p, err := url.Parse(u.Endpoint); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" ||
		(p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.User != nil {
		bad(key+".endpoint", "%q is not an http(s)://host[:port] URL without path or credentials", u.Endpoint)
	}
	if err := upload.CheckBucket(u.Bucket); err != nil {
		bad(key+".bucket", "%v", err)
	}
	if u.AccessKey == "" {
		bad(key+".access_key", "must be set")
	}
	switch {
	case u.SecretKey != "" && u.SecretKeyFile != "":
		bad(key+".secret_key_file", "set secret_key or secret_key_file, not both")
	case u.SecretKeyFile != "":
		if s, err := u.secret(); err != nil {
			bad(key+".secret_key_file", "%v", err)
		} else if s == "" {
			bad(key+".secret_key_file", "%s holds no key on its first line", u.SecretKeyFile)
		}
	case u.SecretKey == "":
		bad(key+".secret_key", "must be set (or secret_key_file, or the environment)")
	}
	if err := upload.CheckPrefix(u.Prefix); err != nil {
		bad(key+".prefix", "%v", err)
	}
	if u.CAFile != "" {
		checkFile(bad, key+".ca_file", u.CAFile)
	}
	if u.PartSize != 0 && (u.PartSize < upload.MinPartSize || u.PartSize > upload.MaxPartSize) {
		bad(key+".part_size", "%d is outside 5MB..512MB (S3 needs parts of at least 5MB)", u.PartSize)
	}
	if u.Concurrency < 0 || u.Concurrency > upload.MaxConcurrency {
		bad(key+".concurrency", "%d is outside 0..%d", u.Concurrency, upload.MaxConcurrency)
	}
	if u.MaxRate < 0 || (u.MaxRate > 0 && u.MaxRate < upload.MinRate) {
		bad(key+".max_rate", "%d is below 64KB/s (0 = unlimited)", u.MaxRate)
	}
	for _, r := range u.StorageClass {
		if (r < 'A' || r > 'Z') && r != '_' {
			bad(key+".storage_class", "%q is not an S3 storage class (e.g. STANDARD_IA)", u.StorageClass)
			break
		}
	}
}
