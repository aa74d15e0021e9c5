package upload

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// S3 error codes (from the S3 API's error list) and transport errors map
// to the failure reasons, with a message that says what to fix and the
// keys scrubbed; the permanent ones go on the slow schedule.
func TestClassify(t *testing.T) {
	tg := Target{Name: "apps.cam.record.upload", Endpoint: "https://s3.example", Bucket: "tapes",
		AccessKey: "AKIAEXAMPLEKEY", SecretKey: "s3cr3t-value"}
	s3err := func(status int, code, msg string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: msg}
	}
	for _, tc := range []struct {
		err       error
		reason    string
		permanent bool
		want      string
	}{
		{s3err(403, "InvalidAccessKeyId", "The AWS Access Key Id AKIAEXAMPLEKEY does not exist"), ReasonCredentials, true,
			"https://s3.example refused the credentials of apps.cam.record.upload (InvalidAccessKeyId: The AWS Access Key Id **** does not exist)"},
		{s3err(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"), ReasonCredentials, true, "refused the credentials"},
		{s3err(403, "AccessDenied", "Access Denied"), ReasonCredentials, true, "AccessDenied: Access Denied"},
		{s3err(404, "NoSuchBucket", "The specified bucket does not exist"), ReasonBucket, true,
			`bucket "tapes" does not exist on https://s3.example (apps.cam.record.upload.bucket)`},
		{s3err(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."), ReasonClockSkew, true,
			"the box's clock"},
		{s3err(503, "SlowDown", "Please reduce your request rate."), ReasonServer, false, "Please reduce your request rate."},
		{&url.Error{Op: "Put", URL: "https://s3.example/tapes/k", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}},
			ReasonNetwork, false, "connection refused"},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), ReasonTLS, true, "TLS: "},
	} {
		err := classify(tg, "put live/a.mp4", tc.err)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%v: not an *Error", tc.err)
		}
		if e.Reason != tc.reason || e.permanent() != tc.permanent || !strings.Contains(e.Error(), tc.want) {
			t.Errorf("%v:\n reason %s permanent %v: %s\n want %s %v containing %q", tc.err, e.Reason, e.permanent(), e.Error(), tc.reason, tc.permanent, tc.want)
		}
		if strings.Contains(e.Error(), tg.SecretKey) || strings.Contains(e.Error(), tg.AccessKey) {
			t.Errorf("keys in %q", e.Error())
		}
	}
	if !noSuchUpload(classify(tg, "part 2", s3err(404, "NoSuchUpload", "The specified upload does not exist."))) {
		t.Error("NoSuchUpload not recognised")
	}
}
