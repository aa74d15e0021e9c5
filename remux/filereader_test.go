package remux

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// testMedia makes small H.264/AAC files with ffmpeg (2 s, GOP 10 at
// 25 fps): "mp4", "fmp4" (ffmpeg's fragmented MP4) and "flv". Skips
// without ffmpeg unless CI=true.
var (
	mediaOnce sync.Once
	mediaDir  string
	mediaErr  error
)

func testMedia(t testing.TB, kind string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ffmpeg required under CI: %v", err)
		}
		t.Skipf("ffmpeg not installed: %v", err)
	}
	mediaOnce.Do(func() {
		mediaDir, mediaErr = os.MkdirTemp("", "remux-media-")
		if mediaErr != nil {
			return
		}
		// Small: the fuzzers use these as seeds.
		src := []string{"-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=64x36:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050",
			"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "32k"}
		for name, extra := range map[string][]string{
			"mp4":  {"-movflags", "+faststart"},
			"fmp4": {"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"},
			"flv":  {},
		} {
			out := filepath.Join(mediaDir, "clip."+name)
			args := append(append(append([]string{}, src...), extra...), out)
			if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				mediaErr = errors.New(string(b))
				return
			}
		}
	})
	if mediaErr != nil {
		t.Fatalf("making test media: %v", mediaErr)
	}
	b, err := os.ReadFile(filepath.Join(mediaDir, "clip."+kind))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if mediaDir != "" {
		os.RemoveAll(mediaDir)
	}
	os.Exit(code)
}

func openReader(kind string, b []byte) (FileReader, error) {
	r := bytes.NewReader(b)
	if kind == "flv" {
		return OpenFLV(r, int64(len(b)), NewPool())
	}
	return OpenMP4(r, int64(len(b)), NewPool())
}

// readAll reads to the end (bounded), releasing every message.
func readAll(rd FileReader, limit int) (video, keys int, last uint32, err error) {
	for i := 0; i < limit; i++ {
		m, err := rd.Next()
		if err != nil {
			return video, keys, last, err
		}
		if m.Kind == KindVideo && !m.IsSequenceHeader() {
			video++
			if m.IsKeyframe() {
				keys++
			}
		}
		last = m.Timestamp
		m.Release()
	}
	return video, keys, last, errors.New("too many messages")
}

func TestFileReaders(t *testing.T) {
	for _, kind := range []string{"mp4", "fmp4", "flv"} {
		t.Run(kind, func(t *testing.T) {
			b := testMedia(t, kind)
			rd, err := openReader(kind, b)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			info := rd.Info()
			if info.VideoCodec != CodecAVC || info.AudioCodec != CodecAAC {
				t.Errorf("codecs %v %v", info.VideoCodec, info.AudioCodec)
			}
			if info.Duration < 1900 || info.Duration > 2200 {
				t.Errorf("duration %d ms, want about 2000", info.Duration)
			}
			hs := rd.Headers()
			if len(hs) != 2 || !hs[0].IsSequenceHeader() || hs[0].Kind != KindVideo || !hs[1].IsSequenceHeader() {
				t.Errorf("headers %v", hs)
			}
			for _, h := range hs {
				h.Release()
			}
			video, keys, _, err := readAll(rd, 10000)
			if err != io.EOF {
				t.Errorf("read: %v", err)
			}
			if video < 50 || video > 51 || keys != 5 { // FLV: + the AVC end-of-sequence tag
				t.Errorf("%d video frames, %d keyframes; want 50 (51), 5", video, keys)
			}
			pos, err := rd.Seek(1500)
			if err != nil {
				t.Fatal(err)
			}
			m, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !m.IsKeyframe() || m.Timestamp != pos || pos > 1500 || pos < 1100 {
				t.Errorf("after Seek(1500) = %d: %v at %d key=%v", pos, m.Kind, m.Timestamp, m.IsKeyframe())
			}
			m.Release()
			video, _, _, _ = readAll(rd, 10000)
			if video < 10 || video > 25 {
				t.Errorf("%d video frames after the seek", video)
			}
		})
	}
}

// Truncated files play up to where they are cut, then end with an error or
// io.EOF. Only a progressive MP4 may be refused at open instead (its moov
// comes after the mdat the cut went into); the FLV and the fragmented MP4
// open, and the test fails if no read of a cut file was checked at all.
func TestFileReadersTruncated(t *testing.T) {
	reads := 0
	for _, kind := range []string{"mp4", "fmp4", "flv"} {
		b := testMedia(t, kind)
		for _, cut := range []int{len(b) / 3, len(b) / 2, len(b) - 7} {
			rd, err := openReader(kind, b[:cut])
			if err != nil {
				if kind != "mp4" {
					t.Errorf("%s cut at %d of %d: refused at open (%v), want it opened and its read cut short", kind, cut, len(b), err)
				}
				continue
			}
			reads++
			if _, _, _, err := readAll(rd, 100000); err == nil {
				t.Errorf("%s cut at %d: read ended without an error", kind, cut)
			}
			rd.Close()
		}
	}
	if reads == 0 {
		t.Errorf("no cut file opened: no truncated read was checked")
	}
}

// fuzzReader fuzzes a file reader. Its seeds are small files ffmpeg wrote
// (1 s, H.264 or HEVC + AAC), checked in under testdata/fuzz so that the
// fuzzers run without ffmpeg.
func fuzzReader(f *testing.F, open func([]byte) (FileReader, error)) {
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := open(b)
		if err != nil {
			return
		}
		for _, h := range rd.Headers() {
			h.Release()
		}
		_, _, _, err = readAll(rd, 1<<20)
		if err == nil {
			t.Fatal("no end")
		}
		if _, err := rd.Seek(rd.Info().Duration / 2); err == nil {
			readAll(rd, 1<<20)
		}
		rd.Close()
	})
}

func FuzzFLVReader(f *testing.F) {
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	fuzzReader(f, func(b []byte) (FileReader, error) { return OpenFLV(bytes.NewReader(b), int64(len(b)), NewPool()) })
}

func FuzzMP4Reader(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov"))
	fuzzReader(f, func(b []byte) (FileReader, error) { return OpenMP4(bytes.NewReader(b), int64(len(b)), NewPool()) })
}

// corpusBytes reads the []byte argument of a Go fuzz corpus file.
func corpusBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(b), "go test fuzz v1\n"))
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(v)
}

// The readers' fuzz seeds are whole files the readers read: the fuzzers
// start from valid input, and the readers have a test without ffmpeg.
func TestReaderSeedFiles(t *testing.T) {
	for _, tc := range []struct {
		kind, file   string
		video, audio FourCC
	}{
		{"flv", "FuzzFLVReader/h264-aac-1s", CodecAVC, CodecAAC},
		{"mp4", "FuzzMP4Reader/h264-aac-1s-faststart", CodecAVC, CodecAAC},
		{"fmp4", "FuzzMP4Reader/h264-aac-1s-fragmented", CodecAVC, CodecAAC},
		{"mp4", "FuzzMP4Reader/hevc-aac-1s-faststart", CodecHEVC, CodecAAC},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rd, err := openReader(tc.kind, corpusBytes(t, filepath.Join("testdata", "fuzz", tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if info := rd.Info(); info.VideoCodec != tc.video || info.AudioCodec != tc.audio {
				t.Errorf("codecs %v %v", info.VideoCodec, info.AudioCodec)
			}
			for _, h := range rd.Headers() {
				h.Release()
			}
			// 1 s at 10 fps, a keyframe every 5 frames (FLV: + end of sequence).
			video, keys, _, err := readAll(rd, 10000)
			if err != io.EOF || video < 10 || video > 11 || keys != 2 {
				t.Errorf("%d video frames, %d keyframes, %v; want 10, 2, EOF", video, keys, err)
			}
		})
	}
}
