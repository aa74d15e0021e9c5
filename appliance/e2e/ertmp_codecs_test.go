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
// VP9 + Opus and AV1 + Opus over Enhanced RTMP; a gortmplib reader that
// was there first gets every frame back byte for byte (a checksum per
// frame), and the fMP4 recording decodes (ffprobe -count_frames) to as
// many video and audio frames as were published.
func TestE2EGortmplibCodecs(t *testing.T) {
	bin := tapedeckBinary(t)
	vp9Args := []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-auto-alt-ref", "0", "-lag-in-frames", "0", "-b:v", "300k"}
	opusArgs := []string{"-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20"}
	for _, tc := range []struct {
		name, encoder string
		media         func(t *testing.T) *srcMedia
	}{
		{"hevc_aac", "libx265", hevcAACMedia},
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
			// own (gortmplib marks none in the tag header).
			time.Sleep(1300 * time.Millisecond)
			raw := playRaw(t, url, amf.Object{{Key: "fourCcList", Value: gortmplibFourCcList}}, time.Second)
			t.Logf("late raw player: %+v", *raw)
			if raw.failed != "" || !raw.seqStart || raw.frames < 10 || !raw.firstIsIRAP || raw.firstFrameAt > time.Second {
				t.Errorf("late raw player: %+v; want SequenceStart, then a keyframe within 1 s and 10+ frames", *raw)
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
				name, count, _ := strings.Cut(strings.TrimSpace(out), ",")
				n, _ := strconv.Atoi(count)
				t.Logf("recording %s: %s, %d frames decoded (%d published)", s.sel, name, n, s.want)
				// Audio that arrives before the first keyframe is not recorded.
				if min := s.want - s.want/50; n < min || n > s.want {
					t.Errorf("recording %s (%s): %d frames decoded, want %d (at least %d)", s.sel, name, n, s.want, min)
				}
			}
			if st, err := os.Stat(files[0]); err == nil {
				t.Logf("recording %s: %d bytes", filepath.Base(files[0]), st.Size())
			}
		})
	}
}
