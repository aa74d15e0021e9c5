package upload

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// rig is an Uploader over a temp storage dir against a real VersityGW.
type rig struct {
	t   *testing.T
	s3  *testenv.S3Server
	dir string
	log *testenv.SyncBuf

	mu     sync.Mutex
	target Target
	err    error // what resolving the settings gives (an unreadable secret_key_file)

	// quickRetry shortens the uploader's schedule for failures that may
	// pass (network) to milliseconds; see TestUploadBadCredentialsThenMissingBucket.
	quickRetry bool
}

func newRig(t *testing.T, posixArgs ...string) *rig {
	s3 := testenv.StartS3(t, posixArgs...)
	s3.MakeBucket("tapes")
	r := &rig{t: t, s3: s3, dir: t.TempDir(), log: &testenv.SyncBuf{}}
	r.target = Target{Name: "storage.upload", Endpoint: s3.Endpoint, Bucket: "tapes", Region: "us-east-1",
		AccessKey: testenv.S3AccessKey, SecretKey: testenv.S3SecretKey, PathStyle: true, PartSize: MinPartSize}
	return r
}

func (r *rig) set(change func(*Target)) {
	r.mu.Lock()
	change(&r.target)
	r.mu.Unlock()
}

func (r *rig) uploader() *Uploader {
	u, err := New(Options{Dir: r.dir, Logger: testLogger(r.log), Target: func(string) (Target, bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.target, true, r.err
	}})
	if err != nil {
		r.t.Fatal(err)
	}
	if r.quickRetry {
		u.fastMin, u.fastMax = 20*time.Millisecond, 200*time.Millisecond
	}
	u.Start()
	r.t.Cleanup(u.Close)
	return u
}

// segment writes a file of n random bytes at rel under the storage dir.
func (r *rig) segment(rel string, n int) string {
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	b := make([]byte, n)
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// same fails unless the object key holds exactly the local file.
func (r *rig) same(path, key string) {
	r.t.Helper()
	want, err := testenv.FileSHA256(path)
	if err != nil {
		r.t.Fatal(err)
	}
	got, n, err := r.s3.ObjectSHA256("tapes", key)
	if err != nil {
		r.t.Fatalf("object %s: %v", key, err)
	}
	if got != want {
		r.t.Fatalf("object %s (%d bytes) sha256 %s, file %s", key, n, got, want)
	}
}

func waitIdle(t *testing.T, u *Uploader, timeout time.Duration, log *testenv.SyncBuf) Status {
	t.Helper()
	var st Status
	deadline := time.Now().Add(timeout)
	for {
		st = u.Status()
		if st.Pending == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog not empty after %v: %+v\nlog:\n%s", timeout, st, testenv.Tail(log.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUploadRealS3 uploads a small segment in one PUT and a large one in
// parts, with the prefix template, and finds both byte-identical in the
// bucket; the journal is empty afterwards.
func TestUploadRealS3(t *testing.T) {
	r := newRig(t)
	r.set(func(t *Target) { t.Prefix = "{box}/{YYYY}/"; t.Box = "box1" })
	u := r.uploader()
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	small := r.segment("live/cam1/2026-12-03_10-00-00.mp4", 300<<10)
	large := r.segment("live/cam1/2026-12-03_10-10-00.mp4", 12<<20+123)
	for _, p := range []string{small, large} {
		if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam1", Start: start}); err != nil {
			t.Fatal(err)
		}
	}
	st := waitIdle(t, u, time.Minute, r.log)
	r.same(small, "box1/2026/live/cam1/2026-12-03_10-00-00.mp4")
	r.same(large, "box1/2026/live/cam1/2026-12-03_10-10-00.mp4")
	if st.Uploaded != 2 || st.UploadedBytes != 300<<10+12<<20+123 {
		t.Fatalf("status %+v", st)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.dir, JournalDir)); len(ents) != 0 {
		t.Fatalf("journal not empty: %v", ents)
	}
	if !strings.Contains(r.log.String(), "multipart upload started") || !strings.Contains(r.log.String(), "segment uploaded") {
		t.Fatalf("no upload logged:\n%s", r.log.String())
	}
}

func testLogger(w *testenv.SyncBuf) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, timeout time.Duration, what string, log *testenv.SyncBuf, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\nlog:\n%s", what, timeout, testenv.Tail(log.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The S3 server killed in the middle of a multipart upload and started
// again 8 s later: the upload goes on from its acknowledged parts and
// the object is byte-identical.
func TestUploadS3KilledMidMultipart(t *testing.T) {
	r := newRig(t)
	r.set(func(t *Target) { t.MaxRate = 2 << 20; t.Concurrency = 1 })
	u := r.uploader()
	p := r.segment("live/cam/a.mp4", 16<<20+5)
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a part acknowledged", r.log, func() bool {
		st := u.Status()
		return len(st.Jobs) == 1 && st.Jobs[0].PartsAcked >= 1
	})
	r.s3.Kill()
	killed := u.Status().Jobs[0].PartsAcked
	time.Sleep(8 * time.Second)
	if st := u.Status(); st.Pending != 1 || st.Failures[ReasonNetwork] == 0 {
		t.Fatalf("while the server is down: %+v", st)
	}
	r.s3.Start()
	st := waitIdle(t, u, 90*time.Second, r.log)
	r.same(p, "live/cam/a.mp4")
	// Parts acknowledged before the kill were not sent again: at most
	// the part in flight (and retries of later parts) is sent twice.
	if max := int64(16<<20+5) + 2*MinPartSize; st.BytesSent > max {
		t.Errorf("sent %d bytes for a %d-byte file after %d parts were acknowledged", st.BytesSent, 16<<20+5, killed)
	}
	t.Logf("parts acked before the kill: %d; bytes sent: %d; failures: %v", killed, st.BytesSent, st.Failures)
}

// Wrong credentials, then a missing bucket: each a precise error in the
// status and the log, with the secret nowhere; nothing is lost, and the
// upload succeeds once the settings are fixed (Retry, as a reload does).
//
// VersityGW answers a refused PUT before it has read the body and closes
// the connection with the body unread: the client, still writing, often
// sees only "connection reset by peer" (reason network), the more often
// the more loaded the machine. Each such reset used to cost a try on the
// real fast schedule (2 s, 4 s, 8 s ... counted from the job's attempts),
// about 20 s in all under load; here the fast schedule is milliseconds,
// so the precise error comes within a second whatever the resets, and
// the slow schedule of the permanent errors stays the real one.
func TestUploadBadCredentialsThenMissingBucket(t *testing.T) {
	r := newRig(t)
	r.quickRetry = true
	r.set(func(t *Target) { t.SecretKey = "wrong-secret-value-1234" })
	u := r.uploader()
	p := r.segment("live/cam/b.mp4", 1<<20)
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a credentials error", r.log, func() bool {
		e := u.Status().LastError
		return e != nil && e.Reason == ReasonCredentials
	})
	st := u.Status()
	if st.Pending != 1 || !strings.Contains(st.LastError.Message, "refused the credentials of storage.upload") {
		t.Fatalf("status %+v, last error %+v", st, st.LastError)
	}
	if strings.Contains(r.log.String(), "wrong-secret-value-1234") || strings.Contains(st.LastError.Message, "wrong-secret") {
		t.Fatal("the secret key shows in the log or the status")
	}
	// The slow schedule: the next try a minute or more away.
	if next := st.Jobs[0].NextAttempt; time.Until(next) < 50*time.Second {
		t.Fatalf("next attempt %v, want the slow schedule (>= 1 min)", next)
	}
	if !strings.Contains(r.log.String(), "level=ERROR msg=\"upload failed\"") {
		t.Fatalf("no ERROR line:\n%s", r.log.String())
	}
	// Fixed credentials, a bucket that does not exist.
	r.set(func(t *Target) { t.SecretKey = testenv.S3SecretKey; t.Bucket = "nothere" })
	u.Retry()
	waitFor(t, 20*time.Second, "a missing-bucket error", r.log, func() bool {
		e := u.Status().LastError
		return e != nil && e.Reason == ReasonBucket
	})
	if msg := u.Status().LastError.Message; !strings.Contains(msg, `bucket "nothere" does not exist`) {
		t.Fatalf("message %q", msg)
	}
	r.set(func(t *Target) { t.Bucket = "tapes" })
	u.Retry()
	st = waitIdle(t, u, 30*time.Second, r.log)
	r.same(p, "live/cam/b.mp4")
	if st.Uploaded != 1 || st.Lost != 0 {
		t.Fatalf("status %+v", st)
	}
}

// max_rate caps a real upload: 12 MiB at 4 MiB/s in two parts at once
// never goes faster than 4 MiB/s + 10% (the journal's fsyncs come on
// top, so the whole is slower; TestLimiterRate checks the rate itself).
func TestUploadMaxRate(t *testing.T) {
	r := newRig(t)
	const rate, size = 4 << 20, 12 << 20
	r.set(func(t *Target) { t.MaxRate = rate; t.Concurrency = 2 })
	u := r.uploader()
	p := r.segment("live/cam/rate.mp4", size)
	t0 := time.Now()
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, u, time.Minute, r.log)
	took := time.Since(t0)
	got := float64(st.BytesSent) / took.Seconds()
	t.Logf("%d bytes in %v: %.0f bytes/s for max_rate %d", st.BytesSent, took.Round(time.Millisecond), got, rate)
	if got > rate*1.1 || took < 2700*time.Millisecond {
		t.Fatalf("rate %.0f bytes/s, max_rate %d", got, rate)
	}
	r.same(p, "live/cam/rate.mp4")
}

// delete_after_upload removes the local file only once the object is
// verified: not while the upload fails.
func TestUploadDeleteAfterUpload(t *testing.T) {
	r := newRig(t)
	r.set(func(t *Target) { t.DeleteAfterUpload = true; t.Bucket = "nothere" })
	u := r.uploader()
	p := r.segment("live/cam/del.mp4", 6<<20)
	want, _ := testenv.FileSHA256(p)
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a bucket error", r.log, func() bool { return u.Status().Failures[ReasonBucket] > 0 })
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("deleted while its upload fails: %v", err)
	}
	r.set(func(t *Target) { t.Bucket = "tapes" })
	u.Retry()
	waitIdle(t, u, 30*time.Second, r.log)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("still there after a verified upload: %v", err)
	}
	if got, _, err := r.s3.ObjectSHA256("tapes", "live/cam/del.mp4"); err != nil || got != want {
		t.Fatalf("object sha256 %s (%v), file had %s", got, err, want)
	}
}

// A server whose certificate the box does not trust: reason tls with a
// precise message; with its CA in ca_file the upload goes through.
func TestUploadTLS(t *testing.T) {
	s3 := testenv.StartS3TLS(t)
	s3.MakeBucket("tapes")
	r := &rig{t: t, s3: s3, dir: t.TempDir(), log: &testenv.SyncBuf{}}
	r.target = Target{Name: "storage.upload", Endpoint: s3.Endpoint, Bucket: "tapes", Region: "us-east-1",
		AccessKey: testenv.S3AccessKey, SecretKey: testenv.S3SecretKey, PathStyle: true}
	u := r.uploader()
	p := r.segment("live/cam/tls.mp4", 1<<20)
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a TLS error", r.log, func() bool {
		e := u.Status().LastError
		return e != nil && e.Reason == ReasonTLS
	})
	if msg := u.Status().LastError.Message; !strings.Contains(msg, "TLS: ") || !strings.Contains(msg, "certificate") {
		t.Fatalf("message %q", msg)
	}
	r.set(func(t *Target) { t.CAFile = s3.CAFile })
	u.Retry()
	waitIdle(t, u, 30*time.Second, r.log)
	r.same(p, "live/cam/tls.mp4")
}

// A server whose ETags are not MD5s (VersityGW's data-integrity ETags, as
// AWS's with SSE-KMS): parts and objects are checked by Content-MD5 and
// size, and the uploads go through, byte-identical.
func TestUploadNonMD5ETags(t *testing.T) {
	r := newRig(t, "--data-integrity-etag")
	u := r.uploader()
	small := r.segment("live/cam/s.mp4", 100<<10)
	large := r.segment("live/cam/l.mp4", 11<<20)
	for _, p := range []string{small, large} {
		if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
			t.Fatal(err)
		}
	}
	st := waitIdle(t, u, time.Minute, r.log)
	r.same(small, "live/cam/s.mp4")
	r.same(large, "live/cam/l.mp4")
	if st.Uploaded != 2 || len(st.Failures) != 0 {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(r.log.String(), "part ETag is not its MD5") {
		t.Fatalf("the server's ETags were MD5s after all: the test shows nothing\n%s", r.log.String())
	}
}

// Settings that cannot be resolved (an unreadable secret_key_file): reason
// config with the message, the job kept, uploaded once they resolve.
func TestUploadSettingsError(t *testing.T) {
	r := newRig(t)
	r.mu.Lock()
	r.err = errors.New("storage.upload.secret_key_file: cannot read /etc/tapedeck/s3.key: permission denied")
	r.mu.Unlock()
	u := r.uploader()
	p := r.segment("live/cam/cfg.mp4", 1<<20)
	if err := u.Enqueue(Segment{Path: p, App: "live", Stream: "cam"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a config error", r.log, func() bool {
		e := u.Status().LastError
		return e != nil && e.Reason == ReasonConfig && strings.Contains(e.Message, "permission denied")
	})
	if st := u.Status(); st.Pending != 1 || st.Jobs[0].Uploading {
		t.Fatalf("status %+v", st)
	}
	r.mu.Lock()
	r.err = nil
	r.mu.Unlock()
	u.Retry()
	waitIdle(t, u, 20*time.Second, r.log)
	r.same(p, "live/cam/cfg.mp4")
}
