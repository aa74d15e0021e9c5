package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// VersityGWModule is the S3 server the upload tests run: VersityGW's
// posix backend on a temp folder, a real S3 implementation we did not
// write. .ci/run installs the same version.
const VersityGWModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3 credentials of the test server's root user.
const (
	S3AccessKey = "tapedeck-test-access"
	S3SecretKey = "tapedeck-test-secret-0123456789"
)

var buildVGW sync.Mutex

// VersityGW returns the path of a versitygw binary: $VERSITYGW, one on
// PATH, or one in the user's cache (~/.cache/tapedeck-s3), built there
// from the module proxy when missing (about two minutes, once). See Need.
func VersityGW(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	Need(t, "a cache folder for versitygw", err)
	dir := filepath.Join(cache, "tapedeck-s3")
	bin := filepath.Join(dir, "versitygw")
	buildVGW.Lock()
	defer buildVGW.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	gobin, err := exec.LookPath("go")
	Need(t, "go (to build versitygw)", err)
	cmd := exec.Command(gobin, "install", VersityGWModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("go install %s: %v\n%s", VersityGWModule, err, Tail(string(out), 20))
	}
	Need(t, "versitygw", err)
	return bin
}

// S3Server is a VersityGW on loopback serving a temp folder.
type S3Server struct {
	t        testing.TB
	bin      string
	sidecar  string // the backend's metadata, outside Root (not a bucket)
	Root     string // the posix backend's folder: one sub-folder per bucket
	Addr     string // 127.0.0.1:port
	Endpoint string // http://127.0.0.1:port, https:// with TLS
	Log      *SyncBuf
	// With TLS (StartS3TLS): the CA that signed the server's certificate.
	CAFile   string
	pool     *x509.CertPool
	certFile string
	keyFile  string
	// posixArgs are options of the posix backend (StartS3's arguments).
	posixArgs []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartS3 starts a VersityGW on a free loopback port, with posixArgs
// given to its posix backend; it is killed when the test ends.
func StartS3(t testing.TB, posixArgs ...string) *S3Server {
	t.Helper()
	s := newS3(t)
	s.posixArgs = posixArgs
	s.Endpoint = "http://" + s.Addr
	s.Start()
	return s
}

// StartS3TLS is StartS3 serving HTTPS, with a certificate for 127.0.0.1
// signed by a test CA (S3Server.CAFile).
func StartS3TLS(t testing.TB) *S3Server {
	t.Helper()
	s := newS3(t)
	s.pool, s.CAFile, s.certFile, s.keyFile = MakeCerts(t, t.TempDir())
	s.Endpoint = "https://" + s.Addr
	s.Start()
	return s
}

func newS3(t testing.TB) *S3Server {
	s := &S3Server{t: t, bin: VersityGW(t), Root: t.TempDir(), sidecar: t.TempDir(), Addr: FreeAddr(t), Log: &SyncBuf{}}
	t.Cleanup(s.Kill)
	return s
}

// Start starts the server (again, after Kill) on the same port and folder
// and waits until it accepts connections.
func (s *S3Server) Start() {
	s.t.Helper()
	args := []string{"--port", s.Addr, "--access", S3AccessKey, "--secret", S3SecretKey, "--quiet"}
	if s.certFile != "" {
		args = append(args, "--cert", s.certFile, "--key", s.keyFile)
	}
	args = append(append(append(args, "posix", "--sidecar", s.sidecar), s.posixArgs...), s.Root)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen on %s: %v\n%s", s.Addr, err, Tail(s.Log.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash or a cut link would.
func (s *S3Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// Client is a minio-go client of the server (the root user).
func (s *S3Server) Client() *minio.Client {
	s.t.Helper()
	opts := &minio.Options{Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""), Region: "us-east-1"}
	if s.pool != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: s.pool}
		opts.Secure, opts.Transport = true, tr
	}
	c, err := minio.New(s.Addr, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (s *S3Server) MakeBucket(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		s.t.Fatalf("make bucket %s: %v", name, err)
	}
}

// ObjectSHA256 downloads an object through the S3 API and returns its
// SHA-256 (hex) and size; an error when it is not there.
func (s *S3Server) ObjectSHA256(bucket, key string) (string, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := s.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", 0, err
	}
	defer o.Close()
	h := sha256.New()
	n, err := io.Copy(h, o)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Keys lists the object keys of a bucket.
func (s *S3Server) Keys(bucket string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	for o := range s.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return keys, o.Err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// FileSHA256 is the SHA-256 (hex) of a local file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", errors.Join(fmt.Errorf("sha256 of %s", path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
