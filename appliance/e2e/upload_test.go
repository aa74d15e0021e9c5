package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// uploadRig is the tapedeck binary recording into a storage folder and
// uploading to a real S3 server (VersityGW) on loopback.
type uploadRig struct {
	s3      *testenv.S3Server
	dir     string
	storage string
	api     string // http://127.0.0.1:port
	cfg     string
}

func newUploadRig(t *testing.T) *uploadRig {
	testenv.NeedTool(t, "ffmpeg")
	s3 := testenv.StartS3(t)
	s3.MakeBucket("tapes")
	dir := t.TempDir()
	return &uploadRig{s3: s3, dir: dir, storage: filepath.Join(dir, "rec"), api: "http://" + testenv.FreeAddr(t), cfg: filepath.Join(dir, "tapedeck.yaml")}
}

// write writes the config: 10 s segments of app live, uploads with the
// given secret and bucket and extra lines under storage.upload.
func (r *uploadRig) write(t *testing.T, secret, bucket, extra string) {
	t.Helper()
	y := fmt.Sprintf(`rtmp:
  listen: 127.0.0.1:0
http:
  listen: %s
storage:
  dir: %s
  upload:
    endpoint: %s
    bucket: %s
    region: us-east-1
    access_key: %s
    secret_key: %s
    path_style: true
%sapps:
  live:
    republish_grace: 0s
    record:
      segment:
        duration: 10s
`, strings.TrimPrefix(r.api, "http://"), r.storage, r.s3.Endpoint, bucket, testenv.S3AccessKey, secret, extra)
	if err := os.WriteFile(r.cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *uploadRig) start(t *testing.T, bin, label string) *serverProc {
	t.Helper()
	p := startServerProc(t, bin, r.cfg, label)
	p.waitReady(t, apiAnswers(r.api), 10*time.Second, "API", func() string { return p.log.String() })
	return p
}

// uploadsStatus is the part of GET /api/v1/uploads the tests read.
type uploadsStatus struct {
	Enabled      bool             `json:"enabled"`
	Pending      int              `json:"pending"`
	PendingBytes int64            `json:"pending_bytes"`
	Uploaded     int64            `json:"uploaded"`
	BytesSent    int64            `json:"bytes_sent"`
	ResumedBytes int64            `json:"resumed_bytes"`
	Lost         int64            `json:"lost"`
	Failures     map[string]int64 `json:"failures"`
	LastError    *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"last_error"`
	Jobs []struct {
		Path       string `json:"path"`
		Bytes      int64  `json:"bytes"`
		PartsAcked int    `json:"parts_acked"`
		BytesAcked int64  `json:"bytes_acked"`
	} `json:"jobs"`
}

func (r *uploadRig) status(t *testing.T) uploadsStatus {
	t.Helper()
	resp, err := http.Get(r.api + "/api/v1/uploads")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s uploadsStatus
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/uploads: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStatus polls the API until cond holds.
func (r *uploadRig) waitStatus(t *testing.T, p *serverProc, timeout time.Duration, what string, cond func(uploadsStatus) bool) uploadsStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.status(t)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; uploads %+v\nlog:\n%s", what, timeout, s, testenv.Tail(p.log.String(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkBucket fails unless every local segment is in the bucket under its
// path below storage.dir with the local file's sha256; it returns how
// many there are.
func (r *uploadRig) checkBucket(t *testing.T) int {
	t.Helper()
	segs := findSegments(t, r.storage)
	for _, p := range segs {
		rel, _ := filepath.Rel(r.storage, p)
		want, err := testenv.FileSHA256(p)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := r.s3.ObjectSHA256("tapes", filepath.ToSlash(rel))
		if err != nil {
			t.Fatalf("segment %s not in the bucket: %v", rel, err)
		}
		if got != want {
			t.Fatalf("segment %s: object sha256 %s (%d bytes), file %s", rel, got, n, want)
		}
	}
	return len(segs)
}

// uploadPublisherArgs are publisherArgs with noise in the picture, so
// that a 10 s segment is about 7 MB: above a 5 MB part, so segments go
// up in parts.
func uploadPublisherArgs(url string, seconds int) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,noise=alls=20:allf=t",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-pix_fmt", "yuv420p", "-qp", "34",
		"-c:a", "aac", "-b:a", "96k",
		"-f", "flv", url,
	}
}

// 30 s of a real ffmpeg publish in 10 s segments, recorded by the built
// binary: every segment ends up in the bucket under its path below
// storage.dir, with the same sha256 as the local file.
func TestUploadE2ERecord30s(t *testing.T) {
	r := newUploadRig(t)
	r.write(t, testenv.S3SecretKey, "tapes", "    part_size: 5MB\n")
	p := r.start(t, tapedeckBinary(t), "upload")
	pub := runTool(t, 60*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 30)...)
	if pub.exitCode != 0 || pub.interrupted {
		t.Fatalf("ffmpeg publish failed:\n%s", pub.report())
	}
	var n int
	st := r.waitStatus(t, p, 60*time.Second, "every segment uploaded", func(s uploadsStatus) bool {
		n = len(findSegments(t, r.storage))
		return s.Pending == 0 && n >= 3 && s.Uploaded == int64(n)
	})
	if got := r.checkBucket(t); got < 3 {
		t.Fatalf("%d segments, want at least 3", got)
	}
	if !st.Enabled || st.Lost != 0 || len(st.Failures) != 0 {
		t.Fatalf("uploads %+v", st)
	}
	keys, _ := r.s3.Keys("tapes")
	t.Logf("%d segments uploaded: %v; %d bytes sent", n, keys, st.BytesSent)
}
