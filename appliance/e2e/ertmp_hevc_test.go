//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// hevcAACMedia is 3 s of 320x240 H.265 from libx265 at 25 fps, a
// keyframe (IDR) a second and B-frames, with AAC.
func hevcAACMedia(t *testing.T) *srcMedia {
	return encodeMedia(t, "src.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:log-level=error",
		"-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-c:a", "aac", "-b:a", "64k")
}

// hevcBox starts the binary (ertmpConfig) and encodes the HEVC source; it
// returns the URL of live/stream on it.
func hevcBox(t *testing.T, stream string) (*hardProc, *srcMedia, string) {
	t.Helper()
	bin := tapedeckBinary(t)
	src := hevcAACMedia(t)
	p := hardStart(t, bin, ertmpConfig)
	return p, src, "rtmp://" + p.rtmpAddr + "/live/" + stream
}

// gortmplibFourCcList is the fourCcList gortmplib v1.0.1 sends when it plays.
var gortmplibFourCcList = []any{"hvc1", "av01", "vp09", "avc1", "Opus", "fLaC", "ac-3", "mp4a", ".mp3"}

// rawPlay is what a player built on our client received: its first video
// messages in order, as the wire carried them.
type rawPlay struct {
	seqStart     bool
	frames       int           // coded video frames
	firstFrameAt time.Duration // since Play.Start
	firstIsIRAP  bool          // by the H.265 NAL unit types, not by our parser
	enhancedTags int           // Enhanced RTMP (ExHeader) audio/video tags
	legacyVideo  int           // legacy video tags
	audio        int           // audio frames
	failed       string        // the onStatus code and description when play was refused
}

// randomAccess says whether a frame can start decoding, as mediacommon
// reads the codec: an H.265 IRAP, an AV1 temporal unit with a sequence
// header, a VP9 key frame.
func randomAccess(codec remux.FourCC, data []byte) bool {
	switch codec {
	case remux.CodecHEVC:
		var au h264.AVCC
		return au.Unmarshal(data) == nil && h265.IsRandomAccess(au)
	case remux.CodecAV1:
		var tu av1.Bitstream
		return tu.Unmarshal(data) == nil && av1.IsRandomAccess2(tu)
	case remux.CodecVP9:
		var h vp9.Header
		return h.Unmarshal(data) == nil && !h.NonKeyFrame
	}
	return false
}

// playRaw plays url with our RTMP client announcing props in connect and
// reads for d.
func playRaw(t *testing.T, url string, props amf.Object, d time.Duration) *rawPlay {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{Timeout: 5 * time.Second, ConnectProps: props})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	res := &rawPlay{}
	if err := c.Play(ctx, name); err != nil {
		res.failed = err.Error()
		return res
	}
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	for time.Since(start) < d {
		m, err := c.ReadMedia()
		if err != nil {
			if !errors.Is(err, rtmp.ErrStreamEnded) && time.Since(start) < d-100*time.Millisecond {
				t.Logf("raw player: %v", err)
			}
			break
		}
		if m.Kind.IsMedia() && m.Frame.Enhanced {
			res.enhancedTags++
		}
		if m.Kind == remux.KindAudio && m.Frame.Packet == remux.PacketCodedFrames {
			res.audio++
		}
		if m.Kind == remux.KindVideo {
			if !m.Frame.Enhanced {
				res.legacyVideo++
			}
			switch {
			case m.Frame.SequenceHeader:
				res.seqStart = true
			case m.Frame.Packet == remux.PacketCodedFrames || m.Frame.Packet == remux.PacketCodedFramesX:
				if res.frames == 0 {
					res.firstFrameAt = time.Since(start)
					res.firstIsIRAP = randomAccess(m.Frame.Codec, m.Frame.Data(m.Payload))
				}
				res.frames++
			}
		}
		m.Release()
	}
	return res
}

// TestE2EHEVCLiveToERTMPPlayer: gortmplib publishes libx265 HEVC + AAC
// (Enhanced RTMP; it writes VideoFrameType 0 on every frame and leaves the
// keyframe signal to the bitstream), and a player that announced hvc1,
// joining a running stream, gets the SequenceStart and then coded frames,
// an IRAP first, within a second; gortmplib reads the same frames back.
func TestE2EHEVCLiveToERTMPPlayer(t *testing.T) {
	p, src, url := hevcBox(t, "hevc")
	pubDone := make(chan error, 1)
	go func() { pubDone <- gortPublish(t, "rtmp://"+p.rtmpAddr+"/live#hevc", src, 3) }()
	hardWaitPublishing(t, p, "live/hevc", nil)
	time.Sleep(1500 * time.Millisecond) // join mid-GOP
	gort := make(chan *gortReceived, 1)
	go func() { gort <- gortRead(url, 4*time.Second) }()
	raw := playRaw(t, url, amf.Object{{Key: "fourCcList", Value: gortmplibFourCcList}}, 4*time.Second)
	t.Logf("raw E-RTMP player: %+v", *raw)
	if !raw.seqStart || raw.frames < 50 {
		t.Errorf("raw player announcing hvc1: SequenceStart %v, %d coded frames in 4 s; want it and at least 50", raw.seqStart, raw.frames)
	}
	if raw.frames > 0 && (!raw.firstIsIRAP || raw.firstFrameAt > time.Second) {
		t.Errorf("raw player's first frame: IRAP %v after %v; want an IRAP within 1 s", raw.firstIsIRAP, raw.firstFrameAt)
	}
	g := <-gort
	if g.err != nil {
		t.Fatal(g.err)
	}
	checkSameFrames(t, "gortmplib HEVC", src.video, g.video, 50)
	checkSameFrames(t, "gortmplib AAC", src.audio, g.audio, 80)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
}

// TestE2EHEVCLivePlayersGetWhatTheyAnnounced: on a live HEVC + AAC stream
// (gortmplib publishing libx265 output),
//   - a player that announced nothing (ffmpeg 5.1, our client without
//     fourCcList) or announced Enhanced RTMP without hvc1 is refused with
//     NetStream.Play.Failed naming H.265 — ffprobe exits with an error
//     rather than waiting on tags it cannot parse;
//   - a legacy player that was waiting before the publish started gets the
//     AAC and no Enhanced RTMP tag;
//   - a player that announced hvc1 gets SequenceStart, then coded frames,
//     an IRAP first, within 1 s.
func TestE2EHEVCLivePlayersGetWhatTheyAnnounced(t *testing.T) {
	p, src, url := hevcBox(t, "hevc")

	early := make(chan *rawPlay, 1)
	go func() { early <- playRaw(t, url, nil, 5*time.Second) }()
	time.Sleep(500 * time.Millisecond)
	pubDone := make(chan error, 1)
	go func() { pubDone <- gortPublish(t, url, src, 2) }()
	hardWaitPublishing(t, p, "live/hevc", nil)
	time.Sleep(300 * time.Millisecond) // the sequence headers are in

	for _, tc := range []struct {
		name  string
		props amf.Object
	}{
		{"nothing announced", nil},
		{"E-RTMP without hvc1", amf.Object{{Key: "fourCcList", Value: []any{"avc1", "mp4a", "av01"}}}},
		{"v2 map without hvc1", amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "vp09", Value: 1.0}}}}},
	} {
		r := playRaw(t, url, tc.props, time.Second)
		if !strings.Contains(r.failed, "NetStream.Play.Failed") || !strings.Contains(r.failed, "H.265") || !strings.Contains(r.failed, "hvc1") {
			t.Errorf("%s: play = %q, want NetStream.Play.Failed naming H.265 and hvc1", tc.name, r.failed)
		}
	}
	out, err := hardRun(t, 20*time.Second, "ffprobe", "-hide_banner", "-v", "error", "-show_streams", url)
	if err == nil {
		t.Errorf("ffprobe 5.1 (no Enhanced RTMP) read the HEVC stream:\n%s", out)
	}
	t.Logf("ffprobe on the HEVC stream: %v: %s", err, strings.TrimSpace(out))
	hardWaitLog(t, p, "did not announce Enhanced RTMP support for hvc1", 5*time.Second)

	raw := playRaw(t, url, amf.Object{{Key: "videoFourCcInfoMap", Value: amf.Object{{Key: "hvc1", Value: 1.0}}}}, 2*time.Second)
	if raw.failed != "" || !raw.seqStart || raw.frames < 25 || !raw.firstIsIRAP || raw.firstFrameAt > time.Second {
		t.Errorf("player announcing hvc1 (v2 map): %+v; want SequenceStart, an IRAP first within 1 s, 25+ frames in 2 s", *raw)
	}
	e := <-early
	t.Logf("legacy player waiting before the publish: %+v", *e)
	if e.failed != "" || e.enhancedTags != 0 || e.frames != 0 || e.audio < 100 {
		t.Errorf("legacy player waiting before the publish got %d Enhanced RTMP tags, %d video and %d audio frames (%q); want only AAC, 100+ frames", e.enhancedTags, e.frames, e.audio, e.failed)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
}

// publishLegacyHEVC publishes m (H.265 + AAC) on c, our client, as the
// pre-standard HEVC-in-FLV old encoders send: legacy video tags with
// CodecID 12 carrying hvcC and length-prefixed NAL units like AVC.
func publishLegacyHEVC(c *rtmp.Client, m *srcMedia) error {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	if err := c.WriteMessage(remux.KindVideo, 0, cat([]byte{0x1C, 0, 0, 0, 0}, m.videoConfig)); err != nil {
		return err
	}
	if err := c.WriteMessage(remux.KindAudio, 0, cat([]byte{0xAF, 0}, m.audioConfig)); err != nil {
		return err
	}
	start := time.Now()
	vi, ai := 0, 0
	for vi < len(m.video) || ai < len(m.audio) {
		if ai >= len(m.audio) || (vi < len(m.video) && m.video[vi].dts <= m.audio[ai].dts) {
			f := m.video[vi]
			vi++
			time.Sleep(time.Until(start.Add(f.dts)))
			avcc, _ := h264.AVCC(f.nalus).Marshal()
			hdr := byte(0x2C)
			if h265.IsRandomAccess(f.nalus) {
				hdr = 0x1C
			}
			cts := int32((f.pts - f.dts) / time.Millisecond)
			if err := c.WriteMessage(remux.KindVideo, uint32(f.dts/time.Millisecond), cat([]byte{hdr, 1, byte(cts >> 16), byte(cts >> 8), byte(cts)}, avcc)); err != nil {
				return err
			}
			continue
		}
		f := m.audio[ai]
		ai++
		time.Sleep(time.Until(start.Add(f.dts)))
		if err := c.WriteMessage(remux.KindAudio, uint32(f.dts/time.Millisecond), cat([]byte{0xAF, 1}, f.data)); err != nil {
			return err
		}
	}
	return nil
}

// TestE2ELegacyHEVCLive: pre-standard HEVC (CodecID 12) published live goes
// to a player that announced hvc1 as Enhanced RTMP (SequenceStart, coded
// frames, an IRAP first), never as CodecID 12 tags it would not parse; a
// player that announced nothing is refused naming H.265.
func TestE2ELegacyHEVCLive(t *testing.T) {
	p, src, url := hevcBox(t, "old")
	pub := testenv.PublishRTMP(t, url)
	done := make(chan error, 1)
	go func() { done <- publishLegacyHEVC(pub, src) }()
	hardWaitPublishing(t, p, "live/old", nil)
	time.Sleep(1200 * time.Millisecond)
	raw := playRaw(t, url, amf.Object{{Key: "fourCcList", Value: []any{"hvc1", "mp4a"}}}, time.Second)
	t.Logf("player announcing hvc1: %+v", *raw)
	if raw.failed != "" || !raw.seqStart || raw.legacyVideo != 0 || raw.frames < 20 || !raw.firstIsIRAP || raw.firstFrameAt > time.Second {
		t.Errorf("player announcing hvc1 on a CodecID 12 stream: %+v; want Enhanced RTMP only, SequenceStart, an IRAP first, 20+ frames", *raw)
	}
	if r := playRaw(t, url, nil, time.Second); !strings.Contains(r.failed, "NetStream.Play.Failed") || !strings.Contains(r.failed, "H.265") {
		t.Errorf("legacy player on a CodecID 12 stream: %q, want NetStream.Play.Failed naming H.265", r.failed)
	}
	if err := <-done; err != nil {
		t.Fatalf("publishing CodecID 12 HEVC: %v", err)
	}
}
