//go:build linux

package e2e

// HEVC recordings played back over Enhanced RTMP (issue #8).
//
// ffmpeg 5.1 and GStreamer 1.22 on the test machines can neither play
// Enhanced RTMP nor write HEVC in FLV, so our own rtmp.Client is the
// player and the witness here: it announces hvc1 in its connect, checks the
// form of every video message (ExHeader, "hvc1", SequenceStart with an
// HEVCDecoderConfigurationRecord, CodedFrames with composition times) and
// hands the received frames, as an Annex B elementary stream, to ffmpeg's
// HEVC decoder. ffmpeg makes the MP4 and fMP4 files (libx265); the
// Enhanced FLV is written by our recorder from the MP4's messages, and a
// pre-standard FLV (legacy tag header, CodecID 12) is built by the test.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// encodeHEVC makes a 4 s HEVC (libx265, GOP 25, B-frames) + AAC file.
func encodeHEVC(t *testing.T, out string, extra ...string) {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "4", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"}
	args = append(append(args, extra...), out)
	if r := runTool(t, 30*time.Second, nil, "ffmpeg", args...); r.err != nil {
		t.Fatalf("encoding %s: %s", out, r.report())
	}
}

// decodedFrames is the number of video frames ffprobe decodes from file.
func decodedFrames(t *testing.T, file string, format ...string) int {
	t.Helper()
	args := append(format, "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file)
	out, err := exec.Command("ffprobe", args...).CombinedOutput()
	n, perr := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || perr != nil || n == 0 {
		t.Fatalf("ffprobe -count_frames %s: %v %v\n%s", file, err, perr, out)
	}
	return n
}

// fileMessages reads an MP4 with remux's reader: the messages a publisher
// of it would send (Enhanced RTMP HEVC, AAC).
func fileMessages(t *testing.T, p string) []*remux.Message {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rd, err := remux.OpenMP4(f, fi.Size(), remux.NewPool())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*remux.Message
	add := func(m *remux.Message) {
		out = append(out, remux.NewMessage(m.Kind, m.Timestamp, slices.Clone(m.Payload)))
		m.Release()
	}
	for _, h := range rd.Headers() {
		add(h)
	}
	for {
		m, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		add(m)
	}
}

// messageSource hands the recorder a whole clip, then ends the stream.
type messageSource struct {
	msgs []*remux.Message
	sent bool
}

func (s *messageSource) Next(dst []*remux.Message) ([]*remux.Message, error) {
	if s.sent {
		return dst, io.EOF
	}
	s.sent = true
	for _, m := range s.msgs {
		dst = append(dst, m.Retain())
	}
	return dst, nil
}

// recordFLV records msgs as FLV at dir/rel(.flv) with our recorder.
func recordFLV(t *testing.T, dir, rel string, msgs []*remux.Message) {
	t.Helper()
	var done []recorder.Segment
	var mu sync.Mutex
	err := recorder.Record(context.Background(), &messageSource{msgs: msgs}, "live", "hevc", recorder.Config{
		Dir: dir, PathTemplate: rel, Format: recorder.FormatFLV, Logger: slog.New(slog.DiscardHandler),
		OnSegmentDone: func(s recorder.Segment) { mu.Lock(); done = append(done, s); mu.Unlock() },
	})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("recorder: %v", err)
	}
	if len(done) != 1 || done[0].Err != nil || filepath.Base(done[0].Path) != filepath.Base(rel)+".flv" {
		t.Fatalf("recorder segments: %+v", done)
	}
}

// writeLegacyHEVCFLV writes msgs as an FLV with the pre-standard HEVC tag
// header (CodecID 12, laid out like AVC) some Chinese encoders send.
func writeLegacyHEVCFLV(t *testing.T, p string, msgs []*remux.Message) {
	t.Helper()
	var tags []testenv.FLVTag
	for _, m := range msgs {
		b := m.Payload
		if m.Kind == remux.KindVideo {
			ft, pt := (b[0]>>4)&7, b[0]&0x0f
			switch pt {
			case 0:
				b = append([]byte{ft<<4 | 12, 0, 0, 0, 0}, b[5:]...)
			case 1:
				b = append([]byte{ft<<4 | 12, 1, b[5], b[6], b[7]}, b[8:]...)
			default:
				t.Fatalf("unexpected video packet type %d from the MP4 reader", pt)
			}
		}
		tags = append(tags, testenv.FLVTag{Type: uint8(m.Kind), TS: m.Timestamp, Body: b})
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, testenv.FLV(tags), 0o644); err != nil {
		t.Fatal(err)
	}
}

type playedMessage struct {
	kind    remux.Kind
	ts      uint32
	payload []byte
}

// playUntil plays url with our client, which announces props in connect,
// until the server ends the play.
func playUntil(t *testing.T, url string, props amf.Object, until func([]playedMessage) bool) ([]playedMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{ConnectProps: props})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	if err := c.Play(ctx, name); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	var got []playedMessage
	for until == nil || !until(got) {
		m, err := c.ReadMedia()
		if errors.Is(err, rtmp.ErrStreamEnded) {
			break
		}
		if err != nil {
			t.Fatalf("play %s: %v after %d messages", url, err, len(got))
		}
		if m.Kind.IsMedia() {
			got = append(got, playedMessage{m.Kind, m.Timestamp, slices.Clone(m.Payload)})
		}
		m.Release()
	}
	return got, nil
}

// checkHEVCPlay checks a played HEVC stream: every video message in Enhanced
// RTMP form with FourCC hvc1; headers sequence headers (HEVC
// configuration records with VPS, SPS and PPS) of which the first comes
// before any frame; frames (their count within 2%) starting with a
// keyframe, some with a composition time (the files have B-frames);
// timestamps monotonic per kind; AAC along. The frames, decoded as Annex
// B by ffmpeg, give no error and as many pictures.
func checkHEVCPlay(t *testing.T, label string, got []playedMessage, headers, frames int) {
	t.Helper()
	var annexB testenv.HEVCAnnexB
	nHdr, nFrames, withCTS, aacHdr, aacFrames := 0, 0, 0, 0, 0
	last := map[remux.Kind]uint32{}
	for i, m := range got {
		if prev, ok := last[m.kind]; ok && m.ts < prev {
			t.Errorf("%s: %v message %d at %d ms after %d ms", label, m.kind, i, m.ts, prev)
		}
		last[m.kind] = m.ts
		p := m.payload
		if m.kind == remux.KindAudio {
			if len(p) >= 2 && p[0]>>4 == 10 {
				if p[1] == 0 {
					aacHdr++
				} else {
					aacFrames++
				}
			}
			continue
		}
		if len(p) < 5 || p[0]&0x80 == 0 || string(p[1:5]) != "hvc1" {
			t.Fatalf("%s: video message %d not in Enhanced RTMP form with hvc1: % x", label, i, p[:min(len(p), 8)])
		}
		ft, pt := (p[0]>>4)&7, p[0]&0x0f
		switch pt {
		case 0: // SequenceStart
			types, err := annexB.Config(p[5:])
			if err != nil {
				t.Fatalf("%s: sequence header %d: %v", label, nHdr, err)
			}
			for _, want := range []int{32, 33, 34} {
				if !slices.Contains(types, want) {
					t.Errorf("%s: sequence header without NAL unit type %d: %v", label, want, types)
				}
			}
			nHdr++
			continue
		case 1: // CodedFrames: SI24 composition time, then the NAL units
			if len(p) < 8 {
				t.Fatalf("%s: CodedFrames of %d bytes", label, len(p))
			}
			if cts := int32(uint32(p[5])<<16|uint32(p[6])<<8|uint32(p[7])) << 8 >> 8; cts != 0 {
				withCTS++
			}
			p = p[8:]
		case 3: // CodedFramesX
			p = p[5:]
		default:
			t.Fatalf("%s: video packet type %d", label, pt)
		}
		if nHdr == 0 {
			t.Fatalf("%s: a frame before the sequence header", label)
		}
		if nFrames == 0 && ft != 1 {
			t.Errorf("%s: the first frame is not a keyframe (frame type %d)", label, ft)
		}
		if err := annexB.Frame(p); err != nil {
			t.Fatalf("%s: frame %d: %v", label, nFrames, err)
		}
		nFrames++
	}
	if nHdr != headers {
		t.Errorf("%s: %d sequence headers, want %d", label, nHdr, headers)
	}
	checkWithin(t, label, nFrames, frames)
	if withCTS == 0 {
		t.Errorf("%s: no frame with a composition time offset, the file has B-frames", label)
	}
	if aacHdr == 0 || aacFrames < 100 {
		t.Errorf("%s: %d AAC headers, %d AAC frames", label, aacHdr, aacFrames)
	}
	f := filepath.Join(t.TempDir(), "received.hevc")
	if err := os.WriteFile(f, annexB.Buf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-f", "hevc", "-i", f, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("%s: ffmpeg decode of the received HEVC: %v\n%s", label, err, out)
	}
	decoded := decodedFrames(t, f, "-f", "hevc")
	if decoded != nFrames {
		t.Errorf("%s: ffmpeg decodes %d pictures of the %d frames received", label, decoded, nFrames)
	}
	t.Logf("%s: %d headers, %d frames (%d with CTS), %d decoded, %d AAC frames", label, nHdr, nFrames, withCTS, decoded, aacFrames)
}

// HEVC recordings — MP4 (hvc1), fMP4 (hev1), FLV written by our recorder,
// pre-standard FLV (CodecID 12), and the stream directory as a timeline —
// play to a player that announced hvc1 (by fourCcList or
// videoFourCcInfoMap) as Enhanced RTMP that decodes.
func TestE2EVODHEVCEnhanced(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	testenv.NeedTool(t, "ffprobe")
	srv := startTestServer(t)
	srv.watch(t)
	dir := filepath.Join(srv.storage, "live", "hevc")
	os.MkdirAll(dir, 0o755)
	encodeHEVC(t, filepath.Join(dir, "a.mp4"), "-tag:v", "hvc1")
	encodeHEVC(t, filepath.Join(dir, "b.mp4"), "-movflags", "frag_keyframe+empty_moov")
	msgs := fileMessages(t, filepath.Join(dir, "a.mp4"))
	recordFLV(t, srv.storage, "live/hevc/c", msgs)
	writeLegacyHEVCFLV(t, filepath.Join(srv.storage, "live", "legacy", "d.flv"), msgs)
	nA, nB := decodedFrames(t, filepath.Join(dir, "a.mp4")), decodedFrames(t, filepath.Join(dir, "b.mp4"))
	fed := 0
	for _, m := range msgs {
		if m.Kind == remux.KindVideo && !m.Frame.SequenceHeader {
			fed++
		}
	}
	if fed != nA {
		t.Fatalf("the MP4 reader gave %d frames of a.mp4, ffprobe counts %d", fed, nA)
	}

	list := func(fourCCs ...any) amf.Object { return amf.Object{{Key: "fourCcList", Value: fourCCs}} }
	infoMap := amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: 1.0}}}}
	base := "rtmp://" + srv.addr + "/vod/live/"
	t.Run("play", func(t *testing.T) {
		for _, c := range []struct {
			name, path      string
			props           amf.Object
			headers, frames int
		}{
			{"mp4", "hevc/a.mp4", list("hvc1"), 1, nA},
			{"fmp4", "hevc/b.mp4", list("*"), 1, nB},
			{"recorder flv", "hevc/c.flv", infoMap, 1, nA},
			{"codec id 12 flv", "legacy/d.flv", list("av01", "hvc1", "vp09"), 1, nA},
			{"timeline", "hevc", list("hvc1"), 3, 2*nA + nB},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				got, err := playUntil(t, base+c.path, c.props, nil)
				if err != nil {
					t.Fatalf("play %s: %v", c.path, err)
				}
				checkHEVCPlay(t, c.name, got, c.headers, c.frames)
			})
		}
	})
}

// A player that did not announce hvc1 is refused an HEVC recording with
// NetStream.Play.Failed saying why (and the refusal is logged), instead of
// being sent what it cannot decode; a live H.264 play on the same server
// works afterwards.
func TestE2EVODHEVCRefused(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	srv := startTestServer(t)
	log := srv.watch(t)
	dir := filepath.Join(srv.storage, "live", "hevc")
	os.MkdirAll(dir, 0o755)
	encodeHEVC(t, filepath.Join(dir, "a.mp4"))
	pub := startTool(t, 30*time.Second, nil, "ffmpeg", publisherArgs(srv.url("live", "cam1"), 8)...)

	for _, props := range []amf.Object{nil, {{Key: "fourCcList", Value: []any{"av01", "vp09"}}}} {
		label := fmt.Sprintf("announcing %v", props)
		got, err := playUntil(t, "rtmp://"+srv.addr+"/vod/live/hevc/a.mp4", props, nil)
		if err == nil {
			t.Fatalf("%s: HEVC played (%d messages)", label, len(got))
		}
		for _, want := range []string{"NetStream.Play.Failed", "recording live/hevc/a.mp4 is H.265", "did not announce Enhanced RTMP support for hvc1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refusal %q does not say %q", label, err, want)
			}
		}
	}
	if l := log(); strings.Count(l, "vod: play refused") != 2 || !strings.Contains(l, "support for hvc1") {
		t.Errorf("refusals not logged:\n%s", excerpt(l, 20, func(s string) bool { return !strings.Contains(s, "refused") }))
	}

	srv.waitPublishing(t, "live", "cam1", pub, 15*time.Second)
	frames := func(got []playedMessage) (n int) {
		for _, m := range got {
			if m.kind == remux.KindVideo && !remux.ParseVideo(m.payload).SequenceHeader {
				n++
			}
		}
		return n
	}
	got, err := playUntil(t, srv.url("live", "cam1"), nil, func(got []playedMessage) bool { return frames(got) >= 25 })
	if err != nil {
		t.Fatalf("live H.264 play after the refusals: %v", err)
	}
	var video []remux.Frame
	for _, m := range got {
		if m.kind == remux.KindVideo {
			video = append(video, remux.ParseVideo(m.payload))
		}
	}
	if len(video) < 2 || !video[0].SequenceHeader || !video[1].Keyframe {
		t.Fatalf("live play: video starts with %+v", video[:min(len(video), 2)])
	}
	for i, f := range video {
		if f.Codec != remux.CodecAVC || f.Enhanced {
			t.Fatalf("live play: video message %d is %+v, want legacy H.264", i, f)
		}
	}
	t.Logf("live H.264 play after the refusals: %d video frames", frames(got))
}
