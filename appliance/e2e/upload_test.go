//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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
	// storageExtra are lines under storage: (retention settings).
	storageExtra string
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
%s  upload:
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
`, strings.TrimPrefix(r.api, "http://"), r.storage, r.storageExtra, r.s3.Endpoint, bucket, testenv.S3AccessKey, secret, extra)
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

// tapedeck SIGKILLed in the middle of a multipart upload: on restart the
// upload resumes from its journaled parts (the bytes sent after the
// restart leave out the parts acknowledged before) and the objects are
// byte-identical.
func TestUploadE2EKill9Resume(t *testing.T) {
	r := newUploadRig(t)
	// 1 MB/s: a 5 MB part takes 5 s, time to kill between parts.
	r.write(t, testenv.S3SecretKey, "tapes", "    part_size: 5MB\n    concurrency: 1\n    max_rate: 1MB\n")
	bin := tapedeckBinary(t)
	p := r.start(t, bin, "first run")
	pub := runTool(t, 60*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 11)...)
	if pub.exitCode != 0 || pub.interrupted {
		t.Fatalf("ffmpeg publish failed:\n%s", pub.report())
	}
	before := r.waitStatus(t, p, 30*time.Second, "a part acknowledged", func(s uploadsStatus) bool {
		return len(s.Jobs) > 0 && s.Jobs[0].PartsAcked >= 1
	})
	p.cmd.Process.Kill()
	<-p.done
	var total, acked int64
	for _, j := range before.Jobs {
		total += j.Bytes
		acked += j.BytesAcked
	}
	if before.Pending < 2 || acked < 5<<20 {
		t.Fatalf("before the kill: %+v", before)
	}

	p2 := r.start(t, bin, "after kill -9")
	st := r.waitStatus(t, p2, 60*time.Second, "backlog uploaded after the restart", func(s uploadsStatus) bool { return s.Pending == 0 })
	r.checkBucket(t)
	if st.ResumedBytes < acked {
		t.Errorf("resumed %d bytes, %d were acknowledged before the kill", st.ResumedBytes, acked)
	}
	// What was acknowledged is not sent again.
	if st.BytesSent > total-acked {
		t.Errorf("sent %d bytes after the restart for %d pending of which %d acknowledged: parts were sent again", st.BytesSent, total, acked)
	}
	t.Logf("pending at the kill: %d segments, %d bytes, %d acknowledged; after the restart: %d sent, %d resumed", before.Pending, total, acked, st.BytesSent, st.ResumedBytes)
	if !strings.Contains(p2.log.String(), "multipart upload resumed") {
		t.Errorf("no resume logged")
	}
}

// Wrong credentials, then a missing bucket: each a clear error in the log
// and in GET /api/v1/uploads, the segments kept; after the config is
// fixed and reloaded (SIGHUP) they are uploaded.
func TestUploadE2EBadCredentialsReload(t *testing.T) {
	r := newUploadRig(t)
	const wrong = "not-the-secret-0000"
	r.write(t, wrong, "tapes", "")
	p := r.start(t, tapedeckBinary(t), "upload")
	pub := runTool(t, 60*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 11)...)
	if pub.exitCode != 0 || pub.interrupted {
		t.Fatalf("ffmpeg publish failed:\n%s", pub.report())
	}
	st := r.waitStatus(t, p, 20*time.Second, "a credentials error", func(s uploadsStatus) bool {
		return s.LastError != nil && s.LastError.Reason == "credentials" && s.Pending >= 2 && s.Pending == len(findSegments(t, r.storage))
	})
	pending := st.Pending
	if !strings.Contains(st.LastError.Message, "refused the credentials of storage.upload") {
		t.Errorf("message %q", st.LastError.Message)
	}
	p.log.WaitLine(t, 5*time.Second, `level=ERROR msg="upload failed"`, "reason=credentials")
	if strings.Contains(p.log.String(), wrong) {
		t.Fatal("the secret key is in the log")
	}

	r.write(t, testenv.S3SecretKey, "missing-bucket", "")
	p.cmd.Process.Signal(syscall.SIGHUP)
	st = r.waitStatus(t, p, 20*time.Second, "a missing-bucket error", func(s uploadsStatus) bool {
		return s.LastError != nil && s.LastError.Reason == "bucket"
	})
	if !strings.Contains(st.LastError.Message, `bucket "missing-bucket" does not exist`) || st.Pending != pending {
		t.Errorf("uploads %+v", st)
	}
	p.log.WaitLine(t, 5*time.Second, `level=ERROR msg="upload failed"`, "reason=bucket")

	r.write(t, testenv.S3SecretKey, "tapes", "")
	p.cmd.Process.Signal(syscall.SIGHUP)
	st = r.waitStatus(t, p, 30*time.Second, "uploaded after the fix", func(s uploadsStatus) bool { return s.Pending == 0 })
	if n := r.checkBucket(t); n != pending || st.Uploaded != int64(pending) || st.Lost != 0 {
		t.Fatalf("%d segments; uploads %+v", n, st)
	}
}

// Offline (the S3 server gone): retention keeps the segments that wait
// for their upload past max_age; when the free-space floor cannot be
// met (min_free 99%, reloaded), it deletes them all the same, and the
// loss is counted (API, metric) and logged at ERROR while recording goes
// on.
func TestUploadE2EOfflineRetention(t *testing.T) {
	r := newUploadRig(t)
	r.s3.Kill() // offline from the start
	r.storageExtra = "  sweep_every: 1s\n  max_age: 1s\n  min_free: 0\n"
	r.write(t, testenv.S3SecretKey, "tapes", "")
	p := r.start(t, tapedeckBinary(t), "offline")
	pub := startTool(t, 60*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 24)...)
	st := r.waitStatus(t, p, 20*time.Second, "the first segment queued and failing", func(s uploadsStatus) bool {
		return s.Pending == 1 && s.Failures["network"] > 0
	})
	first := st.Jobs[0].Path
	time.Sleep(3 * time.Second) // three sweeps past max_age
	if _, err := os.Stat(filepath.Join(r.storage, filepath.FromSlash(first))); err != nil {
		t.Fatalf("segment %s waiting for its upload deleted by max_age: %v", first, err)
	}

	r.storageExtra = "  sweep_every: 1s\n  max_age: 1s\n  min_free: 99%\n"
	r.write(t, testenv.S3SecretKey, "tapes", "")
	p.cmd.Process.Signal(syscall.SIGHUP)
	st = r.waitStatus(t, p, 10*time.Second, "the loss counted", func(s uploadsStatus) bool { return s.Lost >= 1 })
	p.log.WaitLine(t, 5*time.Second, `level=ERROR msg="segment lost before upload"`, "path="+first)
	if _, err := os.Stat(filepath.Join(r.storage, filepath.FromSlash(first))); err == nil {
		t.Fatalf("%s still there", first)
	}
	resp, err := http.Get(r.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^tapedeck_upload_lost_segments_total [1-9]`).Match(body) {
		t.Errorf("metrics:\n%s", body)
	}
	// Recording goes on: the publish ends well and a later segment closes.
	pub.wait()
	if pub.exitCode != 0 || pub.interrupted {
		t.Fatalf("ffmpeg publish failed:\n%s", pub.report())
	}
	testenv.Eventually(t, 10*time.Second, "3 segments done (24 s in 10 s segments)", func() bool {
		return strings.Count(p.log.String(), `msg="segment closed"`) >= 3
	})
}

// A segment a crash left open never had its segment-done: start-up
// recovery makes it playable and queues it, and it reaches the bucket.
func TestUploadE2ERecoveredSegment(t *testing.T) {
	r := newUploadRig(t)
	r.write(t, testenv.S3SecretKey, "tapes", "")
	bin := tapedeckBinary(t)
	p := r.start(t, bin, "crashed")
	startTool(t, 30*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 20)...)
	testenv.Eventually(t, 15*time.Second, "a segment being written", func() bool {
		segs := findSegments(t, r.storage)
		if len(segs) == 0 {
			return false
		}
		fi, err := os.Stat(segs[0])
		return err == nil && fi.Size() > 2<<20
	})
	p.cmd.Process.Kill()
	<-p.done
	if st, err := os.ReadDir(filepath.Join(r.storage, ".uploads")); err == nil && len(st) > 0 {
		t.Fatalf("a job for the open segment before the crash: %v", st)
	}
	p2 := r.start(t, bin, "after the crash")
	st := r.waitStatus(t, p2, 30*time.Second, "the recovered segment uploaded", func(s uploadsStatus) bool { return s.Uploaded == 1 && s.Pending == 0 })
	if n := r.checkBucket(t); n != 1 {
		t.Fatalf("%d segments; uploads %+v", n, st)
	}
}

// metricValue reads one unlabelled series (or the first of a family)
// from /metrics.
func (r *uploadRig) metricValue(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Uploading while recording: the uploader runs flat out at max_rate
// (512 KB/s, below the ~770 KB/s the stream makes, so it never idles)
// and the rate over each 10 s window stays within 10% of it, while the
// recorder neither drops nor skips a frame nor has a slow fsync.
func TestUploadE2EWhileRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 s publish; skipped with -short")
	}
	r := newUploadRig(t)
	const rate = 512 << 10
	r.write(t, testenv.S3SecretKey, "tapes", "    part_size: 5MB\n    concurrency: 2\n    max_rate: 512KB\n")
	p := r.start(t, tapedeckBinary(t), "upload")
	pub := startTool(t, 70*time.Second, nil, "ffmpeg", uploadPublisherArgs("rtmp://"+p.addr+"/live/cam1", 40)...)
	// The first segment closes at 10 s; from 21 s on the window holds
	// only uploading time.
	time.Sleep(22 * time.Second)
	var rates []float64
	for range 3 {
		time.Sleep(5 * time.Second)
		rates = append(rates, r.metricValue(t, "tapedeck_upload_rate_bytes_per_second"))
	}
	syncs := r.metricValue(t, "tapedeck_recording_slow_syncs")
	dropped := r.metricValue(t, "tapedeck_recording_dropped")
	skips := r.metricValue(t, "tapedeck_stream_skips_total")
	pub.wait()
	if pub.exitCode != 0 || pub.interrupted {
		t.Fatalf("ffmpeg publish failed:\n%s", pub.report())
	}
	t.Logf("upload rate over 10 s windows: %.0f bytes/s (max_rate %d); recorder slow syncs %v, dropped %v, stream skips %v", rates, rate, syncs, dropped, skips)
	for _, got := range rates {
		// Never 10% above; under it only as far as a loaded machine slows
		// the uploader (measured within 0.5% here).
		if got > rate*1.1 || got < rate*0.8 {
			t.Errorf("upload rate %.0f bytes/s, max_rate %d", got, rate)
		}
	}
	if syncs != 0 || skips != 0 {
		t.Errorf("recording disturbed: %v slow syncs, %v keyframe skips", syncs, skips)
	}
}
