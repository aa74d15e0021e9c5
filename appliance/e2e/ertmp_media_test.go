//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/flac"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/tapedeck/tapedeck/remux"
)

// Real encoder output for gortmplib (github.com/bluenviron/gortmplib, the
// RTMP client of MediaMTX, an independent Enhanced RTMP implementation):
// ffmpeg encodes a file, remux reads its frames, gortmplib publishes them
// and reads them back, and every frame's checksum is compared.

// srcFrame is one video access unit or audio frame as the encoder made it.
type srcFrame struct {
	dts, pts time.Duration
	nalus    [][]byte // video: the access unit's NAL units
	data     []byte   // audio: the frame
	sum      [32]byte
}

// srcMedia is what encodeMedia read from ffmpeg's file.
type srcMedia struct {
	videoCodec, audioCodec   remux.FourCC
	videoConfig, audioConfig []byte // avcC / hvcC, AudioSpecificConfig, OpusHead, STREAMINFO (AC-3: none)
	video, audio             []srcFrame
	// videoFile and audioFile are the encoder's files holding the
	// video and the audio (the same file for FLV and MP4), for ffmpeg to
	// decode them as the reference of a recording (framemd5).
	videoFile, audioFile string
}

// nalSum is the checksum of an access unit: its NAL units, length-prefixed.
func nalSum(nalus [][]byte) [32]byte {
	b, err := h264.AVCC(nalus).Marshal()
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// encodeMedia runs ffmpeg with args (inputs and codecs) writing file (its
// extension picks the container) and reads the frames back with remux.
func encodeMedia(t *testing.T, file string, args ...string) *srcMedia {
	t.Helper()
	out := filepath.Join(t.TempDir(), file)
	all := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)
	if o, err := hardRun(t, 2*time.Minute, "ffmpeg", append(all, out)...); err != nil {
		t.Fatalf("ffmpeg encoding %s: %v\n%s", file, err, o)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	r, err := remux.OpenFile(f, st.Size(), file, remux.NewPool())
	if err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	defer r.Close()
	m := &srcMedia{videoFile: out, audioFile: out}
	take := func(msg *remux.Message) {
		defer msg.Release()
		fr := msg.Frame
		data := fr.Data(msg.Payload)
		switch {
		case msg.Kind == remux.KindVideo && fr.SequenceHeader:
			m.videoCodec, m.videoConfig = fr.Codec, append([]byte(nil), data...)
		case msg.Kind == remux.KindAudio && fr.SequenceHeader:
			m.audioCodec, m.audioConfig = fr.Codec, append([]byte(nil), data...)
		case msg.Kind == remux.KindVideo && (fr.Packet == remux.PacketCodedFrames || fr.Packet == remux.PacketCodedFramesX):
			dts := time.Duration(msg.Timestamp) * time.Millisecond
			s := srcFrame{dts: dts, pts: dts + time.Duration(fr.CTS)*time.Millisecond}
			var au h264.AVCC
			if err := au.Unmarshal(data); err != nil {
				t.Fatalf("%s: video frame at %d ms: %v", file, msg.Timestamp, err)
			}
			for _, n := range au {
				s.nalus = append(s.nalus, append([]byte(nil), n...))
			}
			s.sum = nalSum(s.nalus)
			m.video = append(m.video, s)
		case msg.Kind == remux.KindAudio && (fr.Packet == remux.PacketCodedFrames || fr.Packet == remux.PacketCodedFramesX):
			dts := time.Duration(msg.Timestamp) * time.Millisecond
			d := append([]byte(nil), data...)
			m.audio = append(m.audio, srcFrame{dts: dts, pts: dts, data: d, sum: sha256.Sum256(d)})
		}
	}
	for _, h := range r.Headers() {
		take(h)
	}
	for {
		msg, err := r.Next()
		if err != nil {
			break
		}
		take(msg)
	}
	if len(m.video) == 0 || len(m.audio) == 0 {
		t.Fatalf("%s: %d video and %d audio frames read back", file, len(m.video), len(m.audio))
	}
	return m
}

// h264AACMedia is 3 s of 320x240 H.264 at 25 fps (a keyframe a second)
// and AAC, from ffmpeg.
func h264AACMedia(t *testing.T) *srcMedia {
	return encodeMedia(t, "src.flv",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-bf", "0",
		"-c:a", "aac", "-b:a", "64k")
}

// gortTracks makes gortmplib tracks for m's codecs.
func gortTracks(t *testing.T, m *srcMedia) (video, audio *gortmplib.Track) {
	t.Helper()
	switch m.videoCodec {
	case remux.CodecAVC:
		video = &gortmplib.Track{Codec: &codecs.H264{SPS: remux.AVCRecordSPS(m.videoConfig), PPS: remux.AVCRecordPPS(m.videoConfig)}}
	case remux.CodecHEVC:
		video = &gortmplib.Track{Codec: &codecs.H265{
			VPS: remux.HEVCRecordNALU(m.videoConfig, 32), SPS: remux.HEVCRecordNALU(m.videoConfig, 33), PPS: remux.HEVCRecordNALU(m.videoConfig, 34)}}
	case remux.CodecVP9:
		video = &gortmplib.Track{Codec: &codecs.VP9{}}
	case remux.CodecAV1:
		video = &gortmplib.Track{Codec: &codecs.AV1{}}
	default:
		t.Fatalf("no gortmplib track for video %v", m.videoCodec)
	}
	switch m.audioCodec {
	case remux.CodecAAC:
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(m.audioConfig); err != nil {
			t.Fatalf("AudioSpecificConfig: %v", err)
		}
		audio = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &asc}}
	case remux.CodecOpus:
		var h opus.IDHeader
		if err := h.Unmarshal(m.audioConfig); err != nil {
			t.Fatalf("OpusHead: %v", err)
		}
		audio = &gortmplib.Track{Codec: &codecs.Opus{IDHeader: &h}}
	case remux.CodecFLAC:
		var si flac.StreamInfo
		if err := si.Unmarshal(m.audioConfig); err != nil {
			t.Fatalf("STREAMINFO: %v", err)
		}
		audio = &gortmplib.Track{Codec: &codecs.FLAC{StreamInfo: &si}}
	case remux.CodecAC3:
		h, err := remux.ParseAC3Header(m.audio[0].data)
		if err != nil {
			t.Fatalf("AC-3 syncframe: %v", err)
		}
		audio = &gortmplib.Track{Codec: &codecs.AC3{SampleRate: int(h.SampleRate), ChannelCount: h.Channels()}}
	default:
		t.Fatalf("no gortmplib track for audio %v", m.audioCodec)
	}
	return video, audio
}

// gortPublish publishes m to rawURL with gortmplib in real time (by
// decode timestamp) and returns when done; loops > 1 repeats the media
// with timestamps running on.
func gortPublish(t *testing.T, rawURL string, m *srcMedia, loops int) error {
	return gortPublishUntil(t, rawURL, m, loops, nil)
}

// gortPublishUntil is gortPublish that also ends, without an error, once
// stop is closed (nil: never), so that a test need not wait for the loops.
func gortPublishUntil(t *testing.T, rawURL string, m *srcMedia, loops int, stop <-chan struct{}) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("gortmplib publish %s: %w", rawURL, err)
	}
	defer c.Close()
	vt, at := gortTracks(t, m)
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("gortmplib writer: %w", err)
	}
	period := m.video[len(m.video)-1].dts + 40*time.Millisecond
	start := time.Now()
	for loop := range loops {
		off := time.Duration(loop) * period
		vi, ai := 0, 0
		for vi < len(m.video) || ai < len(m.audio) {
			video := ai >= len(m.audio) || (vi < len(m.video) && m.video[vi].dts <= m.audio[ai].dts)
			var f srcFrame
			if video {
				f = m.video[vi]
				vi++
			} else {
				f = m.audio[ai]
				ai++
			}
			if d := time.Until(start.Add(off + f.dts)); d > 0 {
				select {
				case <-stop:
					return nil
				case <-time.After(d):
				}
			}
			c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			switch {
			case video && m.videoCodec == remux.CodecAVC:
				err = w.WriteH264(vt, off+f.pts, off+f.dts, f.nalus)
			case video && m.videoCodec == remux.CodecHEVC:
				err = w.WriteH265(vt, off+f.pts, off+f.dts, f.nalus)
			case video && m.videoCodec == remux.CodecVP9:
				err = w.WriteVP9(vt, off+f.pts, f.data)
			case video:
				err = w.WriteAV1(vt, off+f.pts, f.nalus)
			case m.audioCodec == remux.CodecOpus:
				err = w.WriteOpus(at, off+f.pts, f.data)
			case m.audioCodec == remux.CodecFLAC:
				err = w.WriteFLAC(at, off+f.pts, f.data)
			case m.audioCodec == remux.CodecAC3:
				err = w.WriteAC3(at, off+f.pts, f.data)
			default:
				err = w.WriteMPEG4Audio(at, off+f.pts, f.data)
			}
			if err != nil {
				return fmt.Errorf("gortmplib write: %w", err)
			}
		}
	}
	return nil
}

// gortReceived is what a gortmplib reader got.
type gortReceived struct {
	mu           sync.Mutex
	video, audio [][32]byte
	// The frames' timestamps as gortmplib gave them: video decode
	// timestamps (VP9, AV1: presentation), audio presentation timestamps.
	videoTS, audioTS []time.Duration
	firstVideoAt     time.Duration // since the play started
	firstVideoKey    bool          // H.264: the first access unit was random access
	err              error
}

// gortRead plays rawURL with gortmplib for about d and records each
// frame's checksum; opts set up the client (a TLS configuration).
func gortRead(rawURL string, d time.Duration, opts ...func(*gortmplib.Client)) *gortReceived {
	return gortReadUntil(rawURL, d, 0, 0, opts...)
}

// gortReadUntil is gortRead that also ends, before d, once it has
// received video and audio frames (0, 0: only d ends it).
func gortReadUntil(rawURL string, d time.Duration, video, audio int, opts ...func(*gortmplib.Client)) *gortReceived {
	res := &gortReceived{}
	res.err = func() error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := &gortmplib.Client{URL: u}
		for _, o := range opts {
			o(c)
		}
		start := time.Now()
		if err := c.Initialize(ctx); err != nil {
			return fmt.Errorf("gortmplib play %s: %w", rawURL, err)
		}
		defer c.Close()
		c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		r := &gortmplib.Reader{Conn: c}
		if err := r.Initialize(); err != nil {
			return fmt.Errorf("gortmplib reader: %w", err)
		}
		onFrame := func(video bool, ts time.Duration, sum [32]byte) {
			res.mu.Lock()
			defer res.mu.Unlock()
			if !video {
				res.audio, res.audioTS = append(res.audio, sum), append(res.audioTS, ts)
				return
			}
			if len(res.video) == 0 {
				res.firstVideoAt = time.Since(start)
			}
			res.video, res.videoTS = append(res.video, sum), append(res.videoTS, ts)
		}
		onVideo := func(_, dts time.Duration, au [][]byte) { onFrame(true, dts, nalSum(au)) }
		onAudio := func(pts time.Duration, b []byte) { onFrame(false, pts, sha256.Sum256(b)) }
		for _, tr := range r.Tracks() {
			switch tr.Codec.(type) {
			case *codecs.H264:
				r.OnDataH264(tr, func(pts, dts time.Duration, au [][]byte) {
					if len(au) == 2 && len(au[0]) > 0 && h264.NALUType(au[0][0]&0x1f) == h264.NALUTypeSPS {
						return // a sequence header's SPS and PPS, which gortmplib hands over as an access unit
					}
					if len(res.video) == 0 { // this goroutine is the only writer
						res.firstVideoKey = h264.IsRandomAccess(au)
					}
					onVideo(pts, dts, au)
				})
			case *codecs.H265:
				r.OnDataH265(tr, onVideo)
			case *codecs.VP9:
				r.OnDataVP9(tr, func(pts time.Duration, frame []byte) { onFrame(true, pts, sha256.Sum256(frame)) })
			case *codecs.AV1:
				r.OnDataAV1(tr, func(pts time.Duration, tu [][]byte) {
					b, err := av1.Bitstream(tu).Marshal()
					if err == nil {
						onFrame(true, pts, nalSum(av1OBUs(b)))
					}
				})
			case *codecs.MPEG4Audio:
				r.OnDataMPEG4Audio(tr, onAudio)
			case *codecs.Opus:
				r.OnDataOpus(tr, onAudio)
			case *codecs.FLAC:
				r.OnDataFLAC(tr, onAudio)
			case *codecs.AC3:
				r.OnDataAC3(tr, onAudio)
			}
		}
		deadline := start.Add(d)
		for time.Now().Before(deadline) {
			c.NetConn().SetReadDeadline(deadline)
			if err := r.Read(); err != nil {
				if time.Now().After(deadline.Add(-50 * time.Millisecond)) {
					return nil
				}
				return fmt.Errorf("gortmplib read: %w", err)
			}
			if video > 0 && len(res.video) >= video && len(res.audio) >= audio { // this goroutine is the only writer
				return nil
			}
		}
		return nil
	}()
	return res
}

// checkSameFrames asserts got is a run of want, in order and without a
// hole, of at least minFrames frames; parameter-set access units
// gortmplib reports for a sequence header are skipped.
func checkSameFrames(t *testing.T, label string, want []srcFrame, got [][32]byte, minFrames int) {
	t.Helper()
	idx := make(map[[32]byte]int, len(want))
	for i, f := range want {
		if _, dup := idx[f.sum]; !dup {
			idx[f.sum] = i
		}
	}
	n, prev, unknown := 0, -1, 0
	for _, s := range got {
		i, ok := idx[s]
		if !ok {
			unknown++ // a sequence header's parameter sets
			continue
		}
		if prev >= 0 && i != (prev+1)%len(want) {
			t.Errorf("%s: frame #%d of the source follows #%d: frames lost or reordered", label, i, prev)
			return
		}
		prev = i
		n++
	}
	if unknown > 2 {
		t.Errorf("%s: %d frames that the source does not hold", label, unknown)
	}
	if n < minFrames {
		t.Errorf("%s: %d frames identical to the source, want at least %d", label, n, minFrames)
	}
	t.Logf("%s: %d frames identical to the source (%d of the source)", label, n, len(want))
}
