//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

// Enhanced RTMP v2 multitrack (enhanced-rtmp.md §5) end to end: gortmplib
// publishes two H.264 video and three audio tracks in one publish — H.264
// and AAC as track 0 in the legacy form; Opus as audio track 1, AAC again
// as audio track 2 and H.264 again as video track 1 in the Multitrack
// form, as OBS and ffmpeg 8 send extra tracks — all ffmpeg-encoded.

// opusFrames is 3 s of pink noise as libopus encodes it, 20 ms frames,
// and its OpusHead: noise, so that no two packets are alike (a steady
// tone's repeat, and frame checksums would not tell their order).
func opusFrames(t *testing.T) (head []byte, frames []srcFrame) {
	t.Helper()
	ogg := filepath.Join(t.TempDir(), "b.ogg")
	if out, err := hardRun(t, time.Minute, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:amplitude=0.3:seed=7", "-t", "3",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-f", "ogg", ogg); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	pkts := readOggPackets(t, ogg)
	if len(pkts) < 3 || !strings.HasPrefix(string(pkts[0]), "OpusHead") {
		t.Fatalf("%s: no OpusHead", ogg)
	}
	for i, p := range pkts[2:] { // OpusHead, OpusTags, then audio
		ts := time.Duration(i) * 20 * time.Millisecond
		frames = append(frames, srcFrame{dts: ts, pts: ts, data: p, sum: sha256.Sum256(p)})
	}
	return pkts[0], frames
}

// gortPublishMultitrack publishes m's H.264 and AAC, the Opus frames as
// audio track 1, m's AAC again as audio track 2 and m's H.264 again as
// video track 1 to rawURL with gortmplib, in real time, loops times.
func gortPublishMultitrack(t *testing.T, rawURL string, m *srcMedia, opusHead []byte, op []srcFrame, loops int) error {
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
	var h opus.IDHeader
	if err := h.Unmarshal(opusHead); err != nil {
		return fmt.Errorf("OpusHead: %w", err)
	}
	ot := &gortmplib.Track{Codec: &codecs.Opus{IDHeader: &h}}
	vt2, at2 := gortTracks(t, m)
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at, ot, at2, vt2}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("gortmplib writer: %w", err)
	}
	period := m.video[len(m.video)-1].dts + 40*time.Millisecond
	start := time.Now()
	for loop := range loops {
		off := time.Duration(loop) * period
		idx := [5]int{}
		lists := [5][]srcFrame{m.video, m.audio, op, m.audio, m.video}
		for {
			next := -1
			for k, l := range lists {
				if idx[k] < len(l) && l[idx[k]].dts < period && (next < 0 || l[idx[k]].dts < lists[next][idx[next]].dts) {
					next = k
				}
			}
			if next < 0 {
				break
			}
			f := lists[next][idx[next]]
			idx[next]++
			if d := time.Until(start.Add(off + f.dts)); d > 0 {
				time.Sleep(d)
			}
			c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			switch next {
			case 0:
				err = w.WriteH264(vt, off+f.pts, off+f.dts, f.nalus)
			case 1:
				err = w.WriteMPEG4Audio(at, off+f.pts, f.data)
			case 2:
				err = w.WriteOpus(ot, off+f.pts, f.data)
			case 3:
				err = w.WriteMPEG4Audio(at2, off+f.pts, f.data)
			default:
				err = w.WriteH264(vt2, off+f.pts, off+f.dts, f.nalus)
			}
			if err != nil {
				return fmt.Errorf("gortmplib write: %w", err)
			}
		}
	}
	return nil
}

// gortTracksRead is what a gortmplib reader got of each track.
type gortTracksRead struct {
	mu                               sync.Mutex
	codecs                           []string
	video, aac, opusT1, aac2, video2 [][32]byte // aac2, video2: the second AAC and H.264 tracks
	err                              error
}

// gortReadTracks plays rawURL with gortmplib for about d and records each
// frame's checksum per track.
func gortReadTracks(rawURL string, d time.Duration) *gortTracksRead {
	res := &gortTracksRead{}
	res.err = func() error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := &gortmplib.Client{URL: u}
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
		add := func(to *[][32]byte, sum [32]byte) {
			res.mu.Lock()
			defer res.mu.Unlock()
			*to = append(*to, sum)
		}
		aacSeen, h264Seen := false, false
		for _, tr := range r.Tracks() {
			res.codecs = append(res.codecs, fmt.Sprintf("%T", tr.Codec))
			switch tr.Codec.(type) {
			case *codecs.H264:
				// Tracks() lists the tracks of a kind by track id.
				to := &res.video
				if h264Seen {
					to = &res.video2
				}
				h264Seen = true
				r.OnDataH264(tr, func(_, _ time.Duration, au [][]byte) { add(to, nalSum(au)) })
			case *codecs.MPEG4Audio:
				to := &res.aac
				if aacSeen {
					to = &res.aac2
				}
				aacSeen = true
				r.OnDataMPEG4Audio(tr, func(_ time.Duration, b []byte) { add(to, sha256.Sum256(b)) })
			case *codecs.Opus:
				r.OnDataOpus(tr, func(_ time.Duration, b []byte) { add(&res.opusT1, sha256.Sum256(b)) })
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
		}
		return nil
	}()
	return res
}

// checkTracks checks what a gortmplib reader got of the five tracks
// against the source; min is the least frame count per track (video 0,
// audio 0, 1, 2, video 1), a negative one for a track it may lack.
func checkTracks(t *testing.T, label string, got *gortTracksRead, src *srcMedia, op []srcFrame, min [5]int) {
	t.Helper()
	if got.err != nil {
		t.Errorf("%s: %v", label, got.err)
		return
	}
	t.Logf("%s: tracks %v", label, got.codecs)
	checkSameFrames(t, label+" H.264", src.video, got.video, min[0])
	checkSameFrames(t, label+" AAC (track 0)", src.audio, got.aac, min[1])
	if min[2] >= 0 || len(got.opusT1) > 0 {
		checkSameFrames(t, label+" Opus (track 1)", op, got.opusT1, max(min[2], 1))
	}
	checkSameFrames(t, label+" AAC (track 2)", src.audio, got.aac2, min[3])
	checkSameFrames(t, label+" H.264 (track 1)", src.video, got.video2, min[4])
	// The second video track starts at a keyframe of its own.
	if len(got.video2) > 0 && got.video2[0] != src.video[0].sum && got.video2[0] != src.video[25].sum && got.video2[0] != src.video[50].sum {
		t.Errorf("%s: video track 1 starts with a frame that is not one of the source's keyframes", label)
	}
}

// TestE2EMultitrack: one publish, five tracks (H.264 and AAC track 0,
// audio: Opus track 1, AAC track 2; video: H.264 track 1).
//   - gortmplib readers, one there from the start and one joining mid-GOP
//     (from the GOP cache), get every track, frame for frame;
//   - a legacy player (ffprobe, and our client announcing nothing) gets
//     H.264 and AAC track 0 and not one Enhanced RTMP tag;
//   - the fMP4 recording has a trak per track: ffprobe shows five streams,
//     each decoding to as many frames as were published;
//   - playback of the recording gives gortmplib the tracks again (the
//     further traks as multitrack tracks), and ffprobe H.264 and AAC.
func TestE2EMultitrack(t *testing.T) {
	bin := tapedeckBinary(t)
	src := h264AACMedia(t)
	opusHead, op := opusFrames(t)
	p := hardStart(t, bin, ertmpConfig)
	url := "rtmp://" + p.rtmpAddr + "/live/mt"
	const loops = 2
	period := src.video[len(src.video)-1].dts + 40*time.Millisecond

	first := make(chan *gortTracksRead, 1)
	go func() { first <- gortReadTracks(url, loops*period+time.Second) }()
	time.Sleep(300 * time.Millisecond)
	pubDone := make(chan error, 1)
	go func() { pubDone <- gortPublishMultitrack(t, url, src, opusHead, op, loops) }()
	hardWaitPublishing(t, p, "live/mt", nil)
	time.Sleep(1300 * time.Millisecond) // join mid-GOP

	late := make(chan *gortTracksRead, 1)
	go func() { late <- gortReadTracks(url, 2*time.Second) }()
	probe := startProbe(t, url, 2)
	raw := playRaw(t, url, nil, 2*time.Second)
	checkLegacyPlayers(t, "live", raw, probe)

	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	all := loops * len(src.audio) * 9 / 10
	checkTracks(t, "first reader", <-first, src, op, [5]int{loops * len(src.video), all, loops * len(op) * 9 / 10, all, loops * len(src.video)})
	checkTracks(t, "late joiner", <-late, src, op, [5]int{30, 50, 60, 50, 20})

	hardWaitLog(t, p, "segment closed", 15*time.Second)
	files, _ := filepath.Glob(filepath.Join(p.storage, "live", "mt", "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("recordings %v, want one fMP4", files)
	}
	out, err := hardRun(t, time.Minute, "ffprobe", "-hide_banner", "-v", "error", "-count_frames",
		"-show_entries", "stream=index,codec_type,codec_name,nb_read_frames", "-of", "json", files[0])
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", files[0], err, out)
	}
	var rec struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Frames    int    `json:"nb_read_frames,string"`
		} `json:"streams"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("ffprobe JSON: %v\n%s", err, out)
	}
	want := []struct {
		codec string
		n     int
	}{ // the default tracks, then the others as their sequence starts came (gortmplib: video first)
		{"h264", loops * len(src.video)}, {"aac", loops * len(src.audio)},
		{"h264", loops * len(src.video)}, {"opus", loops * len(op)}, {"aac", loops * len(src.audio)},
	}
	if len(rec.Streams) != len(want) {
		t.Fatalf("recording: %d streams %+v, want h264, aac, h264, opus, aac", len(rec.Streams), rec.Streams)
	}
	for i, w := range want {
		s := rec.Streams[i]
		t.Logf("recording stream %d: %s, %d frames decoded (%d published)", i, s.CodecName, s.Frames, w.n)
		// What arrives before the first keyframe is not recorded.
		if s.CodecName != w.codec || s.Frames < w.n-w.n/20 || s.Frames > w.n {
			t.Errorf("recording stream %d: %s, %d frames; want %s, %d (at least %d)", i, s.CodecName, s.Frames, w.codec, w.n, w.n-w.n/20)
		}
	}

	// Playback. gortmplib takes the stream name from the URL fragment.
	vod := "rtmp://" + p.rtmpAddr + "/vod#live/mt/" + filepath.Base(files[0])
	vodLegacy := "rtmp://" + p.rtmpAddr + "/vod/live/mt/" + filepath.Base(files[0])
	back := make(chan *gortTracksRead, 1)
	go func() { back <- gortReadTracks(vod, 2500*time.Millisecond) }()
	probe = startProbe(t, vodLegacy, 2)
	raw = playRaw(t, vodLegacy, nil, 2*time.Second)
	checkLegacyPlayers(t, "playback", raw, probe)
	// Every trak plays back as the track id it was published with, Opus
	// (read from its dOps) included.
	got := <-back
	checkTracks(t, "playback reader", got, src, op, [5]int{40, 70, 70, 70, 40})
}

// checkLegacyPlayers: a player that announced nothing, our client (raw)
// and ffprobe, gets H.264 and the AAC of track 0 in legacy tags, nothing
// else.
func checkLegacyPlayers(t *testing.T, label string, raw *rawPlay, probe *toolRun) {
	t.Helper()
	t.Logf("%s: legacy raw player: %+v", label, *raw)
	// The further tracks travel in Enhanced RTMP tags only: none may come.
	if raw.failed != "" || raw.enhancedTags != 0 || raw.legacyVideo < 30 || raw.audio < 50 {
		t.Errorf("%s: legacy raw player: %+v; want H.264 and AAC in legacy tags only (30+ video, 50+ audio frames in 2 s)", label, *raw)
	}
	pr := parseProbe(t, probe)
	var names []string
	for _, s := range pr.Streams {
		names = append(names, s.CodecName)
	}
	if strings.Join(names, ",") != "h264,aac" {
		t.Errorf("%s: ffprobe as a legacy player: streams %v, want h264,aac", label, names)
	}
	if v, a := len(pr.entries("frame", "video")), len(pr.entries("frame", "audio")); v < 30 || a < 50 {
		t.Errorf("%s: ffprobe as a legacy player: %d video and %d audio frames decoded in 2 s", label, v, a)
	} else {
		t.Logf("%s: ffprobe as a legacy player: %v, %d video and %d audio frames", label, names, v, a)
	}
}
