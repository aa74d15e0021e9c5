package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/yapingcat/gomedia/go-codec"
)

// B-frames (negative and positive composition offsets) and MP3 audio (no
// sequence header) in every format.
func TestBFramesMP3(t *testing.T) {
	t.Parallel()
	in := mediaFile(t, "bframes")
	want := inputCounts(t, in)
	for _, format := range []string{FormatFMP4, FormatMP4, FormatFLV} {
		t.Run(format, func(t *testing.T) {
			msgs := messages(readFLV(t, in))
			segs, err := record(t, msgs, Config{Dir: t.TempDir(), Format: format, SegmentDuration: 2 * time.Second})
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			checkReleased(t, msgs)
			if len(segs) != 3 {
				t.Fatalf("%d segments, want 3", len(segs))
			}
			got := map[string]int{}
			for _, s := range segs {
				r := checkSegment(t, s.Path, "video", "audio")
				for k, v := range r.counts() {
					got[k] += v
				}
				for _, st := range r.Streams {
					if st.CodecType == "audio" && st.CodecName != "mp3" {
						t.Errorf("%s: audio codec %s", s.Path, st.CodecName)
					}
				}
			}
			for _, k := range []string{"video", "audio"} {
				if !within(got[k], want[k], 0.02) {
					t.Errorf("%s packets %d, input %d", k, got[k], want[k])
				}
			}
		})
	}
}

// splitAnnexB returns the NAL units of an Annex-B stream.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		b = b[i+3:]
		j := bytes.Index(b, []byte{0, 0, 1})
		if j < 0 {
			j = len(b)
		}
		n := b[:j]
		for len(n) > 0 && n[len(n)-1] == 0 && j != len(b) {
			n = n[:len(n)-1] // trailing zero of a 4-byte start code
		}
		nalus = append(nalus, n)
		b = b[j:]
	}
	return nalus
}

// hevcMessages builds Enhanced RTMP messages (hvc1 SequenceStart,
// CodedFrames / CodedFramesX) from a raw HEVC stream at 25 fps.
func hevcMessages(t *testing.T, path string) []*remux.Message {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hvcc := codec.NewHEVCRecordConfiguration()
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range splitAnnexB(raw) {
		typ := (n[0] >> 1) & 0x3F
		sc := append([]byte{0, 0, 0, 1}, n...)
		switch typ {
		case 32:
			hvcc.UpdateVPS(sc)
		case 33:
			hvcc.UpdateSPS(sc)
		case 34:
			hvcc.UpdatePPS(sc)
		}
		vcl := typ < 32
		newAU := hasVCL && (typ == 35 || (typ >= 32 && typ <= 39) || (vcl && len(n) > 2 && n[2]&0x80 != 0))
		if newAU {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		if vcl {
			hasVCL = true
		}
		cur = append(cur, n)
	}
	if hasVCL {
		aus = append(aus, cur)
	}
	rec, err := hvcc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*remux.Message{remux.NewMessage(remux.KindVideo, 0, append([]byte{0x90, 'h', 'v', 'c', '1'}, rec...))}
	for i, au := range aus {
		key := false
		var body []byte
		for _, n := range au {
			typ := (n[0] >> 1) & 0x3F
			if typ >= 32 && typ <= 35 {
				continue // parameter sets live in hvcC; drop AUDs
			}
			if typ >= 16 && typ <= 21 {
				key = true
			}
			body = binary.BigEndian.AppendUint32(body, uint32(len(n)))
			body = append(body, n...)
		}
		ft := byte(2)
		if key {
			ft = 1
		}
		var p []byte
		if i%2 == 0 {
			p = append([]byte{0x80 | ft<<4 | 1, 'h', 'v', 'c', '1', 0, 0, 0}, body...) // CodedFrames, CTS 0
		} else {
			p = append([]byte{0x80 | ft<<4 | 3, 'h', 'v', 'c', '1'}, body...) // CodedFramesX
		}
		msgs = append(msgs, remux.NewMessage(remux.KindVideo, uint32(i*40), p))
	}
	return msgs
}

// HEVC over Enhanced RTMP into fMP4 (hvc1/hvcC), video only.
func TestHEVCFMP4(t *testing.T) {
	t.Parallel()
	msgs := hevcMessages(t, mediaFile(t, "hevc"))
	frames := len(msgs) - 1
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			for _, m := range msgs {
				m.Retain()
			}
			segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: format, SegmentDuration: 2 * time.Second})
			if len(segs) != 2 {
				t.Fatalf("%d segments", len(segs))
			}
			got := 0
			for _, s := range segs {
				r := checkSegment(t, s.Path, "video")
				if r.Streams[0].CodecName != "hevc" || r.Streams[0].Width != 320 || r.Streams[0].Height != 240 {
					t.Errorf("%s: %+v", s.Path, r.Streams)
				}
				got += r.counts()["video"]
			}
			if got != frames {
				t.Errorf("%d packets, %d frames in", got, frames)
			}
		})
	}
	for _, m := range msgs {
		m.Release()
	}
	checkReleased(t, msgs)
}

// TestParsePayloads: the recorder's view of a message, taken from the Frame
// An Enhanced RTMP track's onMetaData codec id is its FourCC as a number
// (enhanced-rtmp.md §2).
func TestFLVMetadataCodecIDEnhanced(t *testing.T) {
	t.Parallel()
	msgs := hevcMessages(t, mediaFile(t, "hevc"))
	segs, _ := record(t, msgs, Config{Dir: t.TempDir(), Format: FormatFLV})
	checkReleased(t, msgs)
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	tags := readFLV(t, segs[0].Path)
	for _, p := range parseMetadata(tags[0].body) {
		if p.key == "videocodecid" {
			if p.num != 1752589105 {
				t.Errorf("videocodecid %v, want 1752589105 (hvc1)", p.num)
			}
			return
		}
	}
	t.Error("no videocodecid in onMetaData")
}

// parsed at ingest.
func TestParsePayloads(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		video bool
		in    []byte
		want  payload
	}{
		{"avc seq", true, []byte{0x17, 0, 0, 0, 0, 1, 2}, payload{kind: pkConfig, codec: remux.CodecAVC, data: []byte{1, 2}}},
		{"avc key", true, []byte{0x17, 1, 0xFF, 0xFF, 0xFE, 9}, payload{kind: pkFrame, codec: remux.CodecAVC, data: []byte{9}, cts: -2, key: true}},
		{"avc eos", true, []byte{0x17, 2, 0, 0, 0}, payload{}},
		{"command", true, []byte{0x57, 0}, payload{}},
		{"ex modex+frames", true, []byte{0x80 | 2<<4 | 7, 2, 1, 2, 3, 0x01, 'h', 'v', 'c', '1', 0, 0, 5, 7},
			payload{kind: pkFrame, codec: remux.CodecHEVC, data: []byte{7}, cts: 5}},
		{"ex multitrack", true, []byte{0x80 | 1<<4 | 6, 0x01, 'a', 'v', '0', '1', 1, 2}, payload{kind: pkPass}},
		{"ex metadata", true, []byte{0x80 | 4, 'h', 'v', 'c', '1'}, payload{kind: pkPass}},
		{"ex command", true, []byte{0x80 | 5<<4 | 1, 0}, payload{}},
		{"ex av1 framesx", true, []byte{0x80 | 1<<4 | 1, 'a', 'v', '0', '1', 0x12, 0}, payload{kind: pkFrame, codec: remux.CodecAV1, data: []byte{0x12, 0}, key: true}},
		{"aac seq", false, []byte{0xAF, 0, 0x12, 0x10}, payload{kind: pkConfig, codec: remux.CodecAAC, data: []byte{0x12, 0x10}}},
		{"aac raw", false, []byte{0xAF, 1, 0x21}, payload{kind: pkFrame, codec: remux.CodecAAC, data: []byte{0x21}}},
		{"mp3", false, []byte{0x2F, 0xFF, 0xFB}, payload{kind: pkFrame, codec: remux.CodecMP3, data: []byte{0xFF, 0xFB}}},
		{"ex opus seq", false, []byte{0x90, 'O', 'p', 'u', 's', 1}, payload{kind: pkConfig, codec: remux.CodecOpus, data: []byte{1}}},
		{"ex multichannel", false, []byte{0x94, 'O', 'p', 'u', 's', 1, 2}, payload{kind: pkPass}},
		{"ex audio seq end", false, []byte{0x92, 'O', 'p', 'u', 's'}, payload{}},
		{"silence", false, nil, payload{}},
		{"truncated", true, []byte{0x17, 1}, payload{}},
		{"ex cut inside the CTS", true, []byte{0x80 | 1<<4 | 1, 'h', 'v', 'c', '1', 0, 0}, payload{}},
		{"ex mpeg2ts sequence start", true, []byte{0x80 | 1<<4 | 5, 'a', 'v', '0', '1', 0x80}, payload{}},
		{"legacy vp6 frame", true, []byte{0x14, 0x00, 0x33}, payload{kind: pkFrame, data: []byte{0x00, 0x33}, key: true}},
		{"legacy pcm", false, []byte{0x3E, 1, 2}, payload{kind: pkFrame, data: []byte{1, 2}}},
		{"ex audio multitrack", false, []byte{0x95, 0x00, 'm', 'p', '4', 'a', 1, 0x21}, payload{kind: pkPass}},
	}
	for _, c := range cases {
		kind := remux.KindAudio
		if c.video {
			kind = remux.KindVideo
		}
		got := messagePayload(remux.NewMessage(kind, 0, c.in))
		if got.kind != c.want.kind || got.codec != c.want.codec || !bytes.Equal(got.data, c.want.data) ||
			got.cts != c.want.cts || got.key != c.want.key {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestAudioConfig(t *testing.T) {
	t.Parallel()
	c, err := newAudioConfig(remux.CodecAAC, []byte{0x11, 0x90})
	if err != nil || c.sampleRate != 48000 || c.channels != 2 || c.frameSamples != 1024 {
		t.Errorf("LC 48k stereo: %+v %v", c, err)
	}
	c, err = newAudioConfig(remux.CodecAAC, []byte{0x2B, 0x92, 0x08, 0x00}) // HE-AAC explicit: SBR, 22.05k core, stereo
	if err != nil || c.sampleRate != 22050 || c.channels != 2 {
		t.Errorf("HE-AAC: %+v %v", c, err)
	}
	if _, err := newAudioConfig(remux.CodecAAC, []byte{0x12}); err == nil {
		t.Error("short ASC accepted")
	}
	c, err = newAudioConfig(remux.CodecMP3, []byte{0xFF, 0xFB, 0x90, 0x64})
	if err != nil || c.sampleRate != 44100 || c.frameSamples != 1152 || c.channels != 2 {
		t.Errorf("MP3: %+v %v", c, err)
	}
}

// ivfFrames returns the frames of an IVF file.
func ivfFrames(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 32 || string(b[:4]) != "DKIF" {
		t.Fatalf("%s: not IVF (%v)", path, err)
	}
	var frames [][]byte
	for p := int(binary.LittleEndian.Uint16(b[6:])); p+12 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[p:]))
		if p+12+n > len(b) {
			break
		}
		frames = append(frames, b[p+12:p+12+n])
		p += 12 + n
	}
	return frames
}

// oggPackets returns the packets of the first logical stream of an Ogg file.
func oggPackets(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	var cur []byte
	for p := 0; p+27 <= len(b) && string(b[p:p+4]) == "OggS"; {
		nseg := int(b[p+26])
		segs := b[p+27 : p+27+nseg]
		d := p + 27 + nseg
		for _, l := range segs {
			cur = append(cur, b[d:d+int(l)]...)
			d += int(l)
			if l < 255 {
				pkts = append(pkts, cur)
				cur = nil
			}
		}
		p = d
	}
	return pkts
}

// opusDuration is a packet's duration in 48 kHz samples (RFC 6716 §3.1).
func opusDuration(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	cfg := p[0] >> 3
	var fs int // samples per frame at 48 kHz
	switch {
	case cfg < 12:
		fs = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16:
		fs = []int{480, 960}[cfg%2]
	default:
		fs = []int{120, 240, 480, 960}[cfg%4]
	}
	n := 1
	switch p[0] & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) > 1 {
			n = int(p[1] & 0x3F)
		}
	}
	return fs * n
}

// mergeByTime interleaves two message lists by timestamp, a first on ties.
func mergeByTime(a, b []*remux.Message) []*remux.Message {
	var out []*remux.Message
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].Timestamp <= b[0].Timestamp) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// VP9 (vp09/vpcC) with Opus (Opus/dOps) over Enhanced RTMP into fMP4.
func TestVP9OpusFMP4(t *testing.T) {
	t.Parallel()
	frames := ivfFrames(t, mediaFile(t, "vp9"))
	vpcc := []byte{0, 21, 0x82, 2, 2, 2, 0, 0} // profile 0, level 2.1, 8-bit 4:2:0, unspecified colour
	video := []*remux.Message{remux.NewMessage(remux.KindVideo, 0, append([]byte{0x80, 'v', 'p', '0', '9'}, vpcc...))}
	for i, f := range frames {
		ft := byte(2)
		if f[0]&0xC0 == 0x80 && f[0]&0x0C == 0 { // profile 0, shown, frame_type KEY
			ft = 1
		}
		video = append(video, remux.NewMessage(remux.KindVideo, uint32(i*40), append([]byte{0x80 | ft<<4 | 1, 'v', 'p', '0', '9'}, f...)))
	}
	pkts := oggPackets(t, mediaFile(t, "opus"))
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) {
		t.Fatal("no OpusHead")
	}
	audio := []*remux.Message{remux.NewMessage(remux.KindAudio, 0, append([]byte{0x90, 'O', 'p', 'u', 's'}, pkts[0]...))}
	samples := 0
	for _, p := range pkts[2:] {
		audio = append(audio, remux.NewMessage(remux.KindAudio, uint32(samples/48), append([]byte{0x91, 'O', 'p', 'u', 's'}, p...)))
		samples += opusDuration(p)
	}
	msgs := mergeByTime(video, audio)
	segs := recordN(t, msgs, Config{Dir: t.TempDir(), SegmentDuration: 2 * time.Second}, 2)
	got := map[string]int{}
	for _, s := range segs {
		r := checkSegment(t, s.Path, "video", "audio")
		for _, st := range r.Streams {
			if st.CodecName != "vp9" && st.CodecName != "opus" {
				t.Errorf("%s: codec %s", s.Path, st.CodecName)
			}
		}
		for k, v := range r.counts() {
			got[k] += v
		}
	}
	if got["video"] != len(frames) || !within(got["audio"], len(pkts)-2, 0.02) {
		t.Errorf("packets %v, input %d video %d audio", got, len(frames), len(pkts)-2)
	}
	// The sample entry has the keyframes' 320x240 (vpcC has no size): the
	// VisualSampleEntry's width and height follow 24 bytes after its header.
	b, err := os.ReadFile(segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(b, []byte("vp09")); i < 4 || len(b) < i+32 ||
		binary.BigEndian.Uint16(b[i+28:]) != 320 || binary.BigEndian.Uint16(b[i+30:]) != 240 {
		t.Errorf("vp09 sample entry without the picture size 320x240")
	}
}

// AV1 (av01/av1C) over Enhanced RTMP into fMP4.
func TestAV1FMP4(t *testing.T) {
	t.Parallel()
	frames := ivfFrames(t, mediaFile(t, "av1"))
	seq := remux.AV1FindOBU(frames[0], remux.AV1OBUSequenceHeader)
	if seq == nil {
		t.Fatal("no sequence header OBU")
	}
	// seq_profile 0, level 0, 8-bit 4:2:0, then the sequence header.
	av1c := append([]byte{0x81, 0x00, 0x0C, 0x00}, seq...)
	if cfg, err := newVideoConfig(remux.CodecAV1, av1c); err != nil || cfg.width != 320 || cfg.height != 240 {
		t.Errorf("av1C config %+v, %v: want the sequence header's 320x240", cfg, err)
	}
	msgs := []*remux.Message{remux.NewMessage(remux.KindVideo, 0, append([]byte{0x80, 'a', 'v', '0', '1'}, av1c...))}
	keys := 0
	for i, f := range frames {
		ft := byte(2)
		if remux.AV1FindOBU(f, remux.AV1OBUSequenceHeader) != nil {
			ft = 1
			keys++
		}
		msgs = append(msgs, remux.NewMessage(remux.KindVideo, uint32(i*40), append([]byte{0x80 | ft<<4 | 1, 'a', 'v', '0', '1'}, f...)))
	}
	if keys != 4 {
		t.Fatalf("%d keyframes in 4 s at -g 25", keys)
	}
	segs := recordN(t, msgs, Config{Dir: t.TempDir(), SegmentDuration: 2 * time.Second}, 2)
	got := 0
	for _, s := range segs {
		r := checkSegment(t, s.Path, "video")
		if r.Streams[0].CodecName != "av1" {
			t.Errorf("%s: %+v", s.Path, r.Streams)
		}
		got += r.counts()["video"]
	}
	if got != len(frames) {
		t.Errorf("%d packets, %d frames in", got, len(frames))
	}
}
