//go:build linux

package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// TestE2EGortmplibCodecs: gortmplib publishes ffmpeg-encoded H.265 + AAC,
// VP9 + Opus, AV1 + Opus, and H.264 with FLAC and with AC-3, over Enhanced
// RTMP; a gortmplib reader that was there first gets every frame back byte
// for byte (a checksum per frame); the fMP4 recording has the codecs,
// decodes (ffprobe -count_frames) to as many video and audio frames as
// were published and (ffmpeg framemd5) to the source's very frames; and
// played back from the vod app to gortmplib it returns the published
// frames byte for byte (ertmp_vod_codecs_test.go).
func TestE2EGortmplibCodecs(t *testing.T) {
	bin := tapedeckBinary(t)
	vp9Args := []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-auto-alt-ref", "0", "-lag-in-frames", "0", "-b:v", "300k"}
	opusArgs := []string{"-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20"}
	for _, tc := range []struct {
		name, encoder string
		media         func(t *testing.T) *srcMedia
	}{
		{"hevc_aac", "libx265", hevcAACMedia},
		{"h264_flac", "flac", func(t *testing.T) *srcMedia { return h264AudioMedia(t, "flac", "-strict", "-2") }},
		{"h264_ac3", "ac3", func(t *testing.T) *srcMedia { return h264AudioMedia(t, "ac3", "-b:a", "128k") }},
		{"vp9_opus", "libvpx-vp9", func(t *testing.T) *srcMedia { return encodeIVFOgg(t, remux.CodecVP9, vp9Args, opusArgs) }},
		{"av1_opus", "libaom-av1", func(t *testing.T) *srcMedia {
			return encodeIVFOgg(t, remux.CodecAV1, []string{"-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-g", "25", "-b:v", "300k"}, opusArgs)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, _ := hardRun(t, 10*time.Second, "ffmpeg", "-hide_banner", "-encoders"); !strings.Contains(out, tc.encoder) {
				testenv.Need(t, "ffmpeg's "+tc.encoder+" encoder", errors.New("not in ffmpeg -encoders"))
			}
			src := tc.media(t)
			p := hardStart(t, bin, ertmpConfig)
			url := "rtmp://" + p.rtmpAddr + "/live/" + tc.name
			const loops = 2
			got := make(chan *gortReceived, 1)
			period := src.video[len(src.video)-1].dts + time.Second
			go func() { got <- gortRead(url, loops*period+time.Second) }()
			time.Sleep(300 * time.Millisecond)
			pubDone := make(chan error, 1)
			go func() { pubDone <- gortPublish(t, url, src, loops) }()
			// A late joiner, mid-GOP, starts at a keyframe of the codec's
			// own (gortmplib marks none in the tag header); H.264 travels
			// in the legacy form, which this player does not look at.
			time.Sleep(1300 * time.Millisecond)
			if src.videoCodec != remux.CodecAVC {
				raw := playRaw(t, url, amf.Object{{Key: "fourCcList", Value: gortmplibFourCcList}}, time.Second)
				t.Logf("late raw player: %+v", *raw)
				if raw.failed != "" || !raw.seqStart || raw.frames < 10 || !raw.firstIsIRAP || raw.firstFrameAt > time.Second {
					t.Errorf("late raw player: %+v; want SequenceStart, then a keyframe within 1 s and 10+ frames", *raw)
				}
			}
			if err := <-pubDone; err != nil {
				t.Fatal(err)
			}
			g := <-got
			if g.err != nil {
				t.Fatal(g.err)
			}
			checkSameFrames(t, tc.name+" video", src.video, g.video, loops*len(src.video))
			checkSameFrames(t, tc.name+" audio", src.audio, g.audio, loops*len(src.audio)*9/10)

			hardWaitLog(t, p, "segment closed", 15*time.Second)
			files, _ := filepath.Glob(filepath.Join(p.storage, "live", tc.name, "*.mp4"))
			if len(files) != 1 {
				t.Fatalf("recordings %v, want one fMP4", files)
			}
			for _, s := range []struct {
				sel  string
				want int
			}{{"v:0", loops * len(src.video)}, {"a:0", loops * len(src.audio)}} {
				out, err := hardRun(t, time.Minute, "ffprobe", "-hide_banner", "-v", "error", "-select_streams", s.sel, "-count_frames",
					"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", files[0])
				if err != nil {
					t.Fatalf("ffprobe %s %s: %v\n%s", s.sel, files[0], err, out)
				}
				// codec_name, nb_read_frames, then fields ffprobe adds (AC-3's side data).
				fields := strings.Split(strings.TrimSpace(out), ",")
				name, n := fields[0], 0
				if len(fields) > 1 {
					n, _ = strconv.Atoi(fields[1])
				}
				t.Logf("recording %s: %s, %d frames decoded (%d published)", s.sel, name, n, s.want)
				if want := map[string]string{"v:0": src.videoName(), "a:0": src.audioName()}[s.sel]; name != want {
					t.Errorf("recording %s: codec %s, want %s", s.sel, name, want)
				}
				// Audio that arrives before the first keyframe is not recorded.
				if min := s.want - s.want/50; n < min || n > s.want {
					t.Errorf("recording %s (%s): %d frames decoded, want %d (at least %d)", s.sel, name, n, s.want, min)
				}
			}
			if st, err := os.Stat(files[0]); err == nil {
				t.Logf("recording %s: %d bytes", filepath.Base(files[0]), st.Size())
			}
			checkRecordingDecodes(t, tc.name+" recording", files[0], src, loops)
			checkVODPlay(t, p, tc.name+" playback", tc.name+"/"+filepath.Base(files[0]), src, loops)
		})
	}
}

// h264AudioMedia is 3 s of H.264 (as h264AACMedia) with audio from
// ffmpeg's encoder enc (FLAC, AC-3) at 48 kHz, in MP4.
func h264AudioMedia(t *testing.T, enc string, args ...string) *srcMedia {
	all := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-bf", "0", "-c:a", enc}
	return encodeMedia(t, "src.mp4", append(all, args...)...)
}

// videoName and audioName are ffprobe's codec_name for m's codecs.
func (m *srcMedia) videoName() string {
	return map[remux.FourCC]string{remux.CodecAVC: "h264", remux.CodecHEVC: "hevc", remux.CodecAV1: "av1", remux.CodecVP9: "vp9"}[m.videoCodec]
}

func (m *srcMedia) audioName() string {
	return map[remux.FourCC]string{remux.CodecAAC: "aac", remux.CodecOpus: "opus", remux.CodecFLAC: "flac", remux.CodecAC3: "ac3"}[m.audioCodec]
}
