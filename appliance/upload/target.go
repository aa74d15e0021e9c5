// Package upload ships closed recording segments to an S3-compatible
// bucket, with the local disk as a durable buffer: each segment is a job
// in a journal under storage.dir/.uploads that survives kill -9 and power
// cuts; large segments go up as multipart uploads whose upload id and
// acknowledged parts are journaled, so a restart resumes from the last
// acknowledged part; every part carries Content-MD5 and a signed SHA-256,
// and the object is checked (size and ETag) after completion.
package upload

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tapedeck/tapedeck/recorder"
)

// Limits of the settings.
const (
	MinPartSize     = 5 << 20 // S3's smallest part but the last
	MaxPartSize     = 512 << 20
	DefaultPartSize = 8 << 20
	MaxConcurrency  = 16
	// DefaultConcurrency parts are in flight at once: memory is
	// PartSize × Concurrency.
	DefaultConcurrency = 2
	MinRate            = 64 << 10
)

// Target is one resolved upload configuration: where and how an app's
// segments go.
type Target struct {
	// Name is the config key path the settings came from
	// ("storage.upload", "apps.cam.record.upload"), named in messages.
	Name      string
	Endpoint  string // http(s)://host[:port]
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
	Prefix    string // template: {box} {app} {stream} {YYYY} {MM} {DD} {hh} {mm} {ss}
	Box       string // what {box} stands for
	PathStyle bool
	CAFile    string
	PartSize  int64 // 0: DefaultPartSize
	// Concurrency is the parts in flight at once; 0: DefaultConcurrency.
	Concurrency       int
	MaxRate           int64 // bytes/s; 0: unlimited
	DeleteAfterUpload bool
	StorageClass      string
}

// partSize is the part size in force.
func (t Target) partSize() int64 {
	if t.PartSize <= 0 {
		return DefaultPartSize
	}
	return t.PartSize
}

func (t Target) concurrency() int {
	if t.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return t.Concurrency
}

// same reports whether a client made for t serves u too.
func (t Target) same(u Target) bool {
	return t.Endpoint == u.Endpoint && t.Region == u.Region && t.AccessKey == u.AccessKey &&
		t.SecretKey == u.SecretKey && t.PathStyle == u.PathStyle && t.CAFile == u.CAFile
}

// prefixFields are the fields a prefix template may hold.
var prefixFields = []string{"{box}", "{app}", "{stream}", "{YYYY}", "{MM}", "{DD}", "{hh}", "{mm}", "{ss}"}

// CheckPrefix reports a prefix template that could not make a valid
// object key: an unknown {field}, a leading slash, "..".
func CheckPrefix(p string) error {
	rest := p
	for _, f := range prefixFields {
		rest = strings.ReplaceAll(rest, f, "x")
	}
	if i := strings.IndexAny(rest, "{}"); i >= 0 {
		return fmt.Errorf("%q has an unknown field (known: %s)", p, strings.Join(prefixFields, " "))
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("%q must not start with / nor hold .. or a backslash", p)
	}
	return nil
}

// CheckBucket reports a name S3 would refuse (3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter
// or digit).
func CheckBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%q is not 3 to 63 characters", b)
	}
	for i, r := range b {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (r == '.' || r == '-') && i > 0 && i < len(b)-1
		if !ok {
			return fmt.Errorf("%q is not a bucket name (lower-case letters, digits, . and -)", b)
		}
	}
	return nil
}

// objectKey is the key of the segment rel (its path under storage.dir,
// with /) of app/stream starting at start: the expanded prefix, then rel.
func (t Target) objectKey(rel, app, stream string, start time.Time) string {
	p := strings.ReplaceAll(t.Prefix, "{box}", t.Box)
	if p != "" {
		p = recorder.ExpandTemplate(p, app, stream, start)
	}
	return p + path.Clean(rel)
}
