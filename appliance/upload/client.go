package upload

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tapedeck/tapedeck/appliance/internal/redact"
)

// responseTimeout bounds the wait for a server's answer once a request
// is sent: a server that stops answering is a network failure, retried.
const responseTimeout = time.Minute

// client is an S3 client for one Target.
type client struct {
	t    Target
	core minio.Core
}

// newClient makes the client; it fails only on settings (endpoint, CA file).
func newClient(t Target) (*client, error) {
	u, err := url.Parse(t.Endpoint)
	if err != nil || u.Host == "" {
		return nil, &Error{Reason: ReasonConfig, Err: fmt.Errorf("%s.endpoint %q is not a URL", t.Name, t.Endpoint)}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = responseTimeout
	tr.MaxIdleConnsPerHost = MaxConcurrency
	if t.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(t.CAFile)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{Reason: ReasonConfig, Err: fmt.Errorf("%s.ca_file %s holds no usable certificate (%v)", t.Name, t.CAFile, err)}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	lookup := minio.BucketLookupAuto
	if t.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(t.AccessKey, t.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       t.Region,
		BucketLookup: lookup,
		Transport:    tr,
		// The uploader has its own schedule; the client's retries would
		// hide a dead server for minutes and re-read parts behind its back.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, &Error{Reason: ReasonConfig, Err: fmt.Errorf("%s: %w", t.Name, err)}
	}
	return &client{t: t, core: minio.Core{Client: c}}, nil
}

// putOptions are the options of an object's PUT or multipart start.
func (c *client) putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		StorageClass:         c.t.StorageClass,
		DisableContentSha256: true, // the SHA-256 we give is signed instead of streamed
	}
}

// sums are the digests of one part or object body.
type sums struct {
	md5    [md5.Size]byte
	sha256 [sha256.Size]byte
}

func sumOf(b []byte) sums { return sums{md5: md5.Sum(b), sha256: sha256.Sum256(b)} }

// put uploads body as one object, with Content-MD5 and a signed SHA-256.
func (c *client) put(ctx context.Context, key string, body io.Reader, size int64, s sums) (string, error) {
	info, err := c.core.PutObject(ctx, c.t.Bucket, key, body, size,
		base64.StdEncoding.EncodeToString(s.md5[:]), hex.EncodeToString(s.sha256[:]), c.putOptions())
	if err != nil {
		return "", classify(c.t, "put "+key, err)
	}
	return info.ETag, nil
}

// start begins a multipart upload of key.
func (c *client) start(ctx context.Context, key string) (string, error) {
	id, err := c.core.NewMultipartUpload(ctx, c.t.Bucket, key, c.putOptions())
	if err != nil {
		return "", classify(c.t, "start multipart upload of "+key, err)
	}
	return id, nil
}

// putPart uploads part n of the upload id.
func (c *client) putPart(ctx context.Context, key, id string, n int, body io.Reader, size int64, s sums) (string, error) {
	p, err := c.core.PutObjectPart(ctx, c.t.Bucket, key, id, n, body, size,
		minio.PutObjectPartOptions{
			Md5Base64:            base64.StdEncoding.EncodeToString(s.md5[:]),
			Sha256Hex:            hex.EncodeToString(s.sha256[:]),
			DisableContentSha256: true,
		})
	if err != nil {
		return "", classify(c.t, fmt.Sprintf("part %d of %s", n, key), err)
	}
	return p.ETag, nil
}

// complete finishes the upload id with parts.
func (c *client) complete(ctx context.Context, key, id string, parts []part) error {
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag}
	}
	if _, err := c.core.CompleteMultipartUpload(ctx, c.t.Bucket, key, id, cp, c.putOptions()); err != nil {
		return classify(c.t, "complete multipart upload of "+key, err)
	}
	return nil
}

// abort drops the upload id (best effort: a bucket lifecycle rule
// cleans up what an abort could not).
func (c *client) abort(ctx context.Context, key, id string) {
	c.core.AbortMultipartUpload(ctx, c.t.Bucket, key, id)
}

// stat returns the object's size and ETag.
func (c *client) stat(ctx context.Context, key string) (int64, string, error) {
	info, err := c.core.StatObject(ctx, c.t.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, "", classify(c.t, "check "+key, err)
	}
	return info.Size, strings.Trim(info.ETag, `"`), nil
}

// Reasons an upload failed, the label of the failure counters.
const (
	ReasonCredentials = "credentials" // wrong access key or secret, access denied
	ReasonBucket      = "bucket"      // no such bucket
	ReasonClockSkew   = "clock_skew"  // the box's clock is too far off the server's
	ReasonTLS         = "tls"         // certificate not trusted, wrong host name
	ReasonNetwork     = "network"     // cannot connect, connection cut, timeout
	ReasonServer      = "server"      // 5xx, a refusal not listed here
	ReasonIntegrity   = "integrity"   // the object in the bucket is not the file
	ReasonLocal       = "local"       // reading the segment or writing the journal failed
	ReasonConfig      = "config"      // the settings cannot make a client
)

// Error is an upload failure with its reason.
type Error struct {
	Reason string
	Code   string // the S3 error code, if the server sent one
	Err    error
}

func (e *Error) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// permanent reports a failure that retrying soon will not cure: it is
// retried on the slow schedule (or at once after a reload).
func (e *Error) permanent() bool {
	switch e.Reason {
	case ReasonCredentials, ReasonBucket, ReasonClockSkew, ReasonTLS, ReasonConfig:
		return true
	}
	return false
}

// noSuchUpload reports that the server forgot a multipart upload (it
// was aborted, or cleaned by a lifecycle rule): start a new one.
func noSuchUpload(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "NoSuchUpload"
}

// classify turns a client error into an *Error with a precise message,
// with the credentials scrubbed.
func classify(t Target, what string, err error) error {
	reason := ReasonServer
	msg := err.Error()
	resp := minio.ToErrorResponse(err)
	var uerr *url.Error
	var cerr *tls.CertificateVerificationError
	var herr x509.HostnameError
	var uaerr x509.UnknownAuthorityError
	var nerr net.Error
	switch {
	case errors.As(err, &cerr), errors.As(err, &herr), errors.As(err, &uaerr),
		strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"):
		reason = ReasonTLS
		msg = "TLS: " + msg
	case resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch" || resp.Code == "AccessDenied" ||
		resp.Code == "InvalidToken" || resp.Code == "ExpiredToken":
		reason = ReasonCredentials
		msg = fmt.Sprintf("%s refused the credentials of %s (%s: %s)", t.Endpoint, t.Name, resp.Code, resp.Message)
	case resp.Code == "NoSuchBucket":
		reason = ReasonBucket
		msg = fmt.Sprintf("bucket %q does not exist on %s (%s.bucket)", t.Bucket, t.Endpoint, t.Name)
	case resp.Code == "RequestTimeTooSkewed":
		reason = ReasonClockSkew
		msg = fmt.Sprintf("the box's clock (%s) is too far off the server's: %s", time.Now().UTC().Format(time.RFC3339), resp.Message)
	case resp.StatusCode == 0 && (errors.As(err, &uerr) || errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded)):
		reason = ReasonNetwork
	case resp.StatusCode >= 500:
		reason = ReasonServer
	}
	return &Error{Reason: reason, Code: resp.Code, Err: errors.New(scrub(t, what+": "+msg))}
}

// scrub hides the target's keys in a text.
func scrub(t Target, s string) string {
	var keys []string
	for _, k := range []string{t.SecretKey, t.AccessKey} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return redact.Scrub(s, keys)
}
