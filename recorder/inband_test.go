package recorder

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// avcParamSets returns the SPS and PPS of an AVCDecoderConfigurationRecord.
func avcParamSets(t testing.TB, rec []byte) (sps, pps [][]byte) {
	t.Helper()
	if len(rec) < 7 || rec[0] != 1 {
		t.Fatalf("bad avcC % x", rec)
	}
	p := 6
	for range int(rec[5] & 0x1F) {
		l := int(binary.BigEndian.Uint16(rec[p:]))
		sps = append(sps, rec[p+2:p+2+l])
		p += 2 + l
	}
	np := int(rec[p])
	p++
	for range np {
		l := int(binary.BigEndian.Uint16(rec[p:]))
		pps = append(pps, rec[p+2:p+2+l])
		p += 2 + l
	}
	if len(sps) == 0 || len(pps) == 0 {
		t.Fatalf("avcC without parameter sets % x", rec)
	}
	return sps, pps
}

// withNALUs returns AVCC data with the NAL units nalus (4-byte lengths)
// before frame.
func withNALUs(frame []byte, nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return append(b, frame...)
}

// Header forms of a publisher whose parameter sets travel in-band.
const (
	hdrEmpty  = "empty"  // AVC sequence header with an empty record
	hdrNoPS   = "no-ps"  // avcC with zero SPS and zero PPS
	hdrAbsent = "absent" // no sequence header at all
)

// inbandTags rewrites an ffmpeg-made H.264 FLV as a publisher with in-band
// parameter sets sends it: the AVC sequence header's record is replaced as
// form says, and, when withPS, the SPS and PPS of the original record are
// put at the start of every keyframe.
func inbandTags(t testing.TB, tags []tagSpec, form string, withPS bool) []tagSpec {
	t.Helper()
	var sps, pps [][]byte
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && len(tg.body) > 5 && tg.body[1] == 0 {
			sps, pps = avcParamSets(t, tg.body[5:])
			break
		}
	}
	if sps == nil {
		t.Fatal("no AVC sequence header in the input")
	}
	var out []tagSpec
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && tg.body[0]&0x0F == 7 {
			switch {
			case tg.body[1] == 0:
				switch form {
				case hdrEmpty:
					tg.body = []byte{0x17, 0, 0, 0, 0}
				case hdrNoPS:
					sp := sps[0]
					tg.body = []byte{0x17, 0, 0, 0, 0, 1, sp[1], sp[2], sp[3], 0xFF, 0xE0, 0}
				case hdrAbsent:
					continue
				default:
					t.Fatalf("form %q", form)
				}
			case tg.body[1] == 1 && tg.body[0]>>4 == 1 && withPS:
				body := append([]byte(nil), tg.body[:5]...)
				tg.body = append(body, withNALUs(tg.body[5:], append(sps, pps...)...)...)
			}
		}
		out = append(out, tg)
	}
	return out
}

// logBuffer collects a recorder's log lines (and passes them to t.Log).
type logBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recordOne records tags in format, checks that every message was
// released and that they make one segment, and returns its path, the
// recorder's log and its stats: the start of each single-segment in-band
// test, which then looks at what was recorded.
func recordOne(t *testing.T, tags []tagSpec, format string) (path, log string, stats *Stats) {
	t.Helper()
	msgs := messages(tags)
	logs := &logBuffer{t: t}
	stats = new(Stats)
	segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: format, Stats: stats, Logger: logs.logger()}, 1)
	return segs[0].Path, logs.String(), stats
}

// A publisher whose AVC sequence header lacks the SPS/PPS, which come only
// inside the keyframes (ffmpeg's tee muxer, encoders without a global
// header): MP4 and fMP4 describe the video from the first keyframe's
// parameter sets and record it whole.
func TestInbandParamSets(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "av")
	want := inputCounts(t, in)
	tags := readFLV(t, in)
	for _, form := range []string{hdrEmpty, hdrNoPS, hdrAbsent} {
		// FLV is recorded as received (ffmpeg 5.1 cannot read an FLV whose
		// avcC is empty or absent, whoever wrote it).
		for _, format := range []string{FormatFMP4, FormatMP4} {
			t.Run(form+"/"+format, func(t *testing.T) {
				t.Parallel()
				path, logs, stats := recordOne(t, inbandTags(t, tags, form, true), format)
				r := checkSegment(t, path, "video", "audio")
				c := r.counts()
				for _, k := range []string{"video", "audio"} {
					if !within(c[k], want[k], 0.02) {
						t.Errorf("%s packets %d, input %d", k, c[k], want[k])
					}
				}
				for _, s := range r.Streams {
					if s.CodecType == "video" && (s.CodecName != "h264" || s.Width != 320 || s.Height != 240) {
						t.Errorf("video stream %+v, want h264 320x240", s)
					}
				}
				if n := decodedFrames(t, path); !within(n, want["video"], 0.02) {
					t.Errorf("%d frames decoded, input has %d", n, want["video"])
				}
				if strings.Contains(logs, "level=WARN") {
					t.Errorf("warnings logged for a recordable stream")
				}
				if d := stats.Dropped.Load(); d > 2 {
					t.Errorf("%d messages dropped", d)
				}
			})
		}
	}
}

// No SPS/PPS in the sequence header nor in any keyframe: the video cannot
// be described for MP4. It is dropped with a warning, the audio recorded.
func TestInbandParamSetsMissing(t *testing.T) {
	t.Parallel()
	tags := readFLV(t, mediaFile(t, "av"))
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			path, logs, stats := recordOne(t, inbandTags(t, tags, hdrEmpty, false), format)
			r := checkSegment(t, path, "audio")
			if c := r.counts(); c["video"] != 0 || c["audio"] == 0 {
				t.Errorf("packets %v, want audio only", c)
			}
			if n := strings.Count(logs, "frames not recordable in MP4"); n != 1 {
				t.Errorf("%d 'frames not recordable' warnings, want 1", n)
			}
			if d := stats.Dropped.Load(); d < 150 {
				t.Errorf("%d messages dropped, want the video's", d)
			}
		})
	}
}

// In-band SPS/PPS that change mid-stream (a resolution change) start a new
// segment, as a changed sequence header does.
func TestInbandParamSetsChange(t *testing.T) {
	t.Parallel()
	needTools(t)
	a := inbandTags(t, readFLV(t, mediaFile(t, "av")), hdrEmpty, true)
	small := filepath.Join(t.TempDir(), "small.flv")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
		"-f", "lavfi", "-i", "sine", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-c:a", "aac", "-f", "flv", small).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b := inbandTags(t, readFLV(t, small), hdrEmpty, true)
	var tags []tagSpec
	for _, tg := range a {
		if tg.ts < 3000 {
			tags = append(tags, tg)
		}
	}
	for _, tg := range b {
		if tg.kind.IsMedia() && len(tg.body) > 1 && tg.body[1] != 0 {
			tg.ts += 3000
			tags = append(tags, tg)
		}
	}
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			msgs := messages(tags)
			segs := recordN(t, msgs, Config{Dir: t.TempDir(), Format: format}, 2)
			for i, size := range [][2]int{{320, 240}, {160, 120}} {
				r := checkSegment(t, segs[i].Path, "video", "audio")
				for _, s := range r.Streams {
					if s.CodecType == "video" && (s.Width != size[0] || s.Height != size[1]) {
						t.Errorf("segment %d: video %dx%d, want %dx%d", i, s.Width, s.Height, size[0], size[1])
					}
				}
				if c := r.counts(); !within(c["video"], 75, 0.02) {
					t.Errorf("segment %d: %d video packets, want 75", i, c["video"])
				}
			}
		})
	}
}

// HEVC over Enhanced RTMP with an empty hvcC: VPS/SPS/PPS in the keyframes.
func TestInbandParamSetsHEVC(t *testing.T) {
	t.Parallel()
	orig := hevcMessages(t, mediaFile(t, "hevc"))
	rec := orig[0].Payload[5:]
	vps, sps, pps := remux.HEVCRecordNALU(rec, remux.HEVCNALVPS), remux.HEVCRecordNALU(rec, remux.HEVCNALSPS), remux.HEVCRecordNALU(rec, remux.HEVCNALPPS)
	if vps == nil || sps == nil || pps == nil {
		t.Fatalf("hvcC without parameter sets")
	}
	msgs := []*remux.Message{remux.NewMessage(remux.KindVideo, 0, []byte{0x90, 'h', 'v', 'c', '1'})}
	for _, m := range orig[1:] {
		p := m.Payload
		if p[0]>>4&7 == 1 {
			n := 5 // CodedFramesX
			if p[0]&0x0F == 1 {
				n = 8 // CodedFrames: SI24 composition time
			}
			p = append(append([]byte(nil), p[:n]...), withNALUs(p[n:], vps, sps, pps)...)
		}
		msgs = append(msgs, remux.NewMessage(remux.KindVideo, m.Timestamp, p))
	}
	for _, m := range orig {
		m.Release()
	}
	frames := len(msgs) - 1
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			for _, m := range msgs {
				m.Retain()
			}
			segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: format})
			if len(segs) != 1 {
				t.Fatalf("%d segments", len(segs))
			}
			r := checkSegment(t, segs[0].Path, "video")
			if r.Streams[0].CodecName != "hevc" || r.Streams[0].Width != 320 || r.Streams[0].Height != 240 {
				t.Errorf("%s: %+v", segs[0].Path, r.Streams)
			}
			if got := r.counts()["video"]; got != frames {
				t.Errorf("%d packets, %d frames in", got, frames)
			}
		})
	}
	for _, m := range msgs {
		m.Release()
	}
	checkReleased(t, msgs)
}

// The record built from in-band parameter sets is the publisher's own, and
// checking the keyframes of an in-band stream allocates nothing once the
// track is described.
func TestInbandRecord(t *testing.T) { // not parallel: AllocsPerRun
	tags := readFLV(t, mediaFile(t, "av"))
	var orig []byte
	var key payload
	for _, tg := range inbandTags(t, tags, hdrAbsent, true) {
		if tg.kind == remux.KindVideo && tg.body[0]>>4 == 1 {
			key = parseVideo(tg.body)
			break
		}
	}
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && tg.body[1] == 0 {
			orig = tg.body[5:]
			break
		}
	}
	var rbsp []byte
	rec, ok := appendInbandRecord(nil, remux.CodecAVC, key.data, 4, &rbsp)
	if !ok || !bytes.HasPrefix(rec, orig) || len(rec) != len(orig) && len(rec) != len(orig)+4 {
		t.Fatalf("record from the keyframe\n% x\nwant (ffmpeg's)\n% x", rec, orig)
	}
	if lacksParamSets(remux.CodecAVC, orig) || !lacksParamSets(remux.CodecAVC, nil) ||
		!lacksParamSets(remux.CodecAVC, []byte{1, 66, 0, 13, 0xFF, 0xE0, 0}) ||
		!lacksParamSets(remux.CodecAVC, orig[:8]) {
		t.Errorf("lacksParamSets")
	}
	if _, ok := appendInbandRecord(nil, remux.CodecAVC, key.data[4+int(binary.BigEndian.Uint32(key.data)):], 4, &rbsp); ok {
		t.Errorf("record built without an SPS")
	}

	r := &recorder{cfg: Config{Format: FormatFMP4}, stats: new(Stats), warned: map[string]bool{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.video = trackState{hdr: []byte{0x17, 0, 0, 0, 0}, codec: remux.CodecAVC, inband: true, nalLen: 4}
	r.inbandVideo(key)
	if r.video.cfg == nil || r.video.cfg.width != 320 || r.video.cfg.height != 240 {
		t.Fatalf("video config %+v", r.video.cfg)
	}
	cfg := r.video.cfg
	if n := testing.AllocsPerRun(100, func() { r.inbandVideo(key) }); n != 0 {
		t.Errorf("%v allocations per keyframe", n)
	}
	if r.video.cfg != cfg {
		t.Errorf("unchanged parameter sets replaced the config")
	}
}

// High-profile records carry the SPS's chroma format and bit depths.
func TestInbandRecordHighProfile(t *testing.T) {
	t.Parallel()
	needTools(t)
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25",
		"-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv422p10le", "-f", "h264", "-").Output()
	if err != nil {
		t.Skipf("no 10-bit 4:2:2 libx264: %v", err)
	}
	var frame []byte
	for _, n := range splitAnnexB(out) {
		frame = binary.BigEndian.AppendUint32(frame, uint32(len(n)))
		frame = append(frame, n...)
	}
	var rbsp []byte
	rec, ok := appendInbandRecord(nil, remux.CodecAVC, frame, 4, &rbsp)
	if !ok || len(rec) < 11 || rec[1] != 122 {
		t.Fatalf("record % x", rec)
	}
	if ext := rec[len(rec)-4:]; !bytes.Equal(ext, []byte{0xFC | 2, 0xF8 | 2, 0xF8 | 2, 0}) {
		t.Errorf("chroma/bit depth % x, want fe fa fa 00", ext)
	}
}
