//go:build linux

package e2e

// Recordings of Enhanced RTMP codecs checked frame by frame (issue #16,
// "Must show 2"): the fMP4 that gortmplib's publish made decodes, in
// ffmpeg, to the very pictures and samples the encoder's own file
// decodes to (framemd5), and playing the recording back (appliance/vod,
// remux's MP4 reader) to gortmplib — which announced the FourCCs —
// returns the published frames byte for byte. TestE2EGortmplibCodecs
// publishes and calls these.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// frameMD5s decodes stream sel ("v:0", "a:0") of file with ffmpeg and
// returns the MD5 of each decoded frame, in output order; with copy, of
// each packet as ffmpeg's demuxer reads it, undecoded.
func frameMD5s(t *testing.T, file, sel string, copy bool) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "framemd5.txt")
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-i", file, "-map", "0:" + sel}
	if copy {
		args = append(args, "-c", "copy")
	}
	if o, err := hardRun(t, time.Minute, "ffmpeg", append(args, "-f", "framemd5", out)...); err != nil {
		t.Fatalf("ffmpeg framemd5 %s %s: %v\n%s", sel, file, err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		// stream, dts, pts, duration, size, hash, then side data (", S=...").
		if f := strings.Split(l, ","); len(f) >= 6 {
			sums = append(sums, strings.TrimSpace(f[5]))
		}
	}
	return sums
}

// checkFrameMD5s compares the frames (or packets) of a recording of loops
// runs of the source with the source's, in order: each run of the
// recording must be the source's frames one after the other; the first
// run may lack its first 3 (what came before the first keyframe). slack
// lets the first frames of a run and the last 3 differ, for decoded audio
// (Opus's inter-frame prediction, Ogg's end trim); elsewhere none may.
func checkFrameMD5s(t *testing.T, label string, src, rec []string, loops, slack int) {
	t.Helper()
	n := len(src)
	idx := make(map[string]int, n)
	for i, s := range src {
		idx[s] = i
	}
	// A gap of frames not in the source lies between the matched frames
	// prev and next (-1: none); it is allowed at a run's boundary only.
	boundary := func(prev, next int) bool {
		switch {
		case prev < 0: // the recording's start
			return next <= 3+slack
		case next < 0: // its end
			return prev >= n-3
		}
		return prev >= n-1-min(slack, 3) && next <= slack
	}
	matched, gap, prev := 0, 0, -1
	for k, s := range rec {
		i, ok := idx[s]
		if !ok {
			gap++
			continue
		}
		if gap > 0 && (gap > slack+3 || !boundary(prev, i)) || gap == 0 && prev >= 0 && i != prev+1 && !boundary(prev, i) {
			t.Errorf("%s: recording frame %d decodes to source frame %d after source frame %d and %d frames not in the source", label, k, i, prev, gap)
			return
		}
		matched, gap, prev = matched+1, 0, i
	}
	if gap > 0 && (gap > 3 || !boundary(prev, -1)) {
		t.Errorf("%s: the last %d frames of the recording are not the source's", label, gap)
	}
	t.Logf("%s: %d of %d identical to the source's (framemd5; %d in the source, %d runs)", label, matched, len(rec), n, loops)
	if want := loops*n - 3 - loops*2*slack; matched < want || n == 0 {
		t.Errorf("%s: %d identical to the source's, want at least %d", label, matched, want)
	}
}

// checkRecordingDecodes: the recording's video decodes with ffmpeg to the
// pictures the source decodes to, frame for frame; its audio packets, as
// ffmpeg's MP4 demuxer reads them, are the source's, and lossless FLAC
// decodes to the source's samples too. Lossy audio decoders are not
// compared decoded: their output hangs on state from every frame before
// (the AC-3 decoder's dither generator, AAC's noise substitution, Opus's
// energy prediction), and the recording starts at the first video
// keyframe, possibly after the source's first audio frame.
func checkRecordingDecodes(t *testing.T, label, file string, src *srcMedia, loops int) {
	t.Helper()
	checkFrameMD5s(t, label+" video", frameMD5s(t, src.videoFile, "v:0", false), frameMD5s(t, file, "v:0", false), loops, 0)
	checkFrameMD5s(t, label+" audio packets", frameMD5s(t, src.audioFile, "a:0", true), frameMD5s(t, file, "a:0", true), loops, 0)
	if src.audioCodec == remux.CodecFLAC {
		checkFrameMD5s(t, label+" audio", frameMD5s(t, src.audioFile, "a:0", false), frameMD5s(t, file, "a:0", false), loops, 0)
	}
}

// checkVODPlay plays the recording rel (under the storage's live app) from
// the vod app to gortmplib (fragment form, the stream name after '#') and
// checks it gets every frame of the loops runs of src, byte for byte.
func checkVODPlay(t *testing.T, p *hardProc, label, rel string, src *srcMedia, loops int) {
	t.Helper()
	period := src.video[len(src.video)-1].dts + time.Second
	url := "rtmp://" + p.rtmpAddr + "/vod#live/" + rel
	g := gortRead(url, time.Duration(loops)*period+2*time.Second)
	if g.err != nil {
		t.Fatalf("%s: %v", label, g.err)
	}
	checkSameFrames(t, label+" video", src.video, g.video, loops*len(src.video))
	checkSameFrames(t, label+" audio", src.audio, g.audio, loops*len(src.audio)*9/10)
}
