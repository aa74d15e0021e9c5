package hls

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/recorder"
	"github.com/tapedeck/tapedeck/remux"
)

func msg(kind remux.Kind, ts uint32, body []byte) *remux.Message {
	m := remux.NewMessage(kind, ts, bytes.Clone(body))
	m.Parse()
	return m
}

// publishAVC publishes the synthetic H.264+AAC stream to live/cam: 25 fps
// video with a keyframe every 25 frames, AAC every ~23 ms, at speed
// times real time, until ctx ends.
func publishAVC(ctx context.Context, t *testing.T, h *hub.Hub, speed int) {
	t.Helper()
	pub, err := h.Publish("live", "cam", hub.StreamConfig{GOPCache: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	pub.Write(msg(remux.KindVideo, 0, testenv.AVCHeader))
	pub.Write(msg(remux.KindAudio, 0, testenv.AACHeader))
	go func() {
		defer pub.Close()
		audio := 0.0
		for i := 0; ; i++ {
			ts := uint32(i * 40)
			body := testenv.AVCInterframe
			if i%25 == 0 {
				body = testenv.AVCKeyframe
			}
			pub.Write(msg(remux.KindVideo, ts, body))
			for ; audio < float64(ts+40); audio += 1024.0 * 1000 / 44100 {
				pub.Write(msg(remux.KindAudio, uint32(audio), testenv.AACFrame))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(40 * time.Millisecond / time.Duration(speed)):
			}
		}
	}()
}

func testServer(t *testing.T, h *hub.Hub, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(Options{
		Hub:    h,
		Config: func() Config { return cfg },
		Admit: func(*http.Request, string, string) (hub.StreamConfig, error) {
			return hub.StreamConfig{GOPCache: true}, nil
		},
	})
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func get(t *testing.T, url string) (int, []byte, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, time.Since(start)
}

var (
	partRE    = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+),URI="part(\d+)\.mp4"`)
	hintRE    = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.mp4"`)
	segRE     = regexp.MustCompile(`\nseg(\d+)\.mp4\n`)
	seqRE     = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	targetRE  = regexp.MustCompile(`#EXT-X-PART-INF:PART-TARGET=([0-9.]+)`)
	extinfRE  = regexp.MustCompile(`#EXTINF:([0-9.]+),`)
	pdtRE     = regexp.MustCompile(`#EXT-X-PROGRAM-DATE-TIME:(\S+)`)
	anyNumber = func(s string) int { n, _ := strconv.Atoi(s); return n }
)

func TestLivePlaylistPartsAndBlockingReload(t *testing.T) {
	h := hub.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publishAVC(ctx, t, h, 4)
	cfg := Config{PartDuration: 200 * time.Millisecond, SegmentDuration: time.Second, SegmentCount: 3, IdleTimeout: 300 * time.Millisecond}
	srv, ts := testServer(t, h, cfg)
	base := ts.URL + "/hls/live/cam/"

	code, pl, _ := get(t, base+"index.m3u8")
	if code != 200 {
		t.Fatalf("playlist: %d %s", code, pl)
	}
	for _, want := range []string{"#EXT-X-VERSION:9", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600",
		"#EXT-X-MAP:URI=\"init1.mp4\"", "#EXT-X-PRELOAD-HINT:TYPE=PART", ",INDEPENDENT=YES"} {
		if !bytes.Contains(pl, []byte(want)) {
			t.Errorf("playlist lacks %s:\n%s", want, pl)
		}
	}
	if _, init, _ := get(t, base+"init1.mp4"); len(init) < 8 || string(init[4:8]) != "ftyp" {
		t.Fatalf("init1.mp4 does not start with ftyp: %q", init[:min(len(init), 8)])
	}

	// Let segments roll past segment_count (a client polling), then look
	// at one playlist.
	for range 20 {
		get(t, base+"index.m3u8")
		time.Sleep(100 * time.Millisecond)
	}
	_, pl, _ = get(t, base+"index.m3u8")
	target, _ := strconv.ParseFloat(string(targetRE.FindSubmatch(pl)[1]), 64)
	parts := partRE.FindAllSubmatch(pl, -1)
	if len(parts) < 5 {
		t.Fatalf("%d parts listed:\n%s", len(parts), pl)
	}
	for _, p := range parts {
		if d, _ := strconv.ParseFloat(string(p[1]), 64); d > target || d <= 0 {
			t.Errorf("part %s lasts %.3f, PART-TARGET is %.3f", p[2], d, target)
		}
	}
	for _, d := range extinfRE.FindAllSubmatch(pl, -1) {
		if f, _ := strconv.ParseFloat(string(d[1]), 64); f < 0.999 || f > 1.001 {
			t.Errorf("segment of %.3fs, want 1s (one GOP)", f)
		}
	}
	segs := segRE.FindAllSubmatch(pl, -1)
	if len(segs) != 3 {
		t.Errorf("%d segments listed, want segment_count (3):\n%s", len(segs), pl)
	}
	if seq := anyNumber(string(seqRE.FindSubmatch(pl)[1])); seq == 0 {
		t.Errorf("media sequence still 0 after %d segments: old ones not dropped", seq)
	}
	if n := len(pdtRE.FindAll(pl, -1)); n < 3 {
		t.Errorf("%d PROGRAM-DATE-TIME tags", n)
	}

	// A segment is its parts, end to end.
	last := segs[len(segs)-1][1]
	_, seg, _ := get(t, base+"seg"+string(last)+".mp4")
	if len(seg) < 8 || string(seg[4:8]) != "moof" {
		t.Fatalf("segment does not start with moof")
	}
	var joined []byte
	for _, p := range parts {
		srv.mu.Lock()
		m := srv.muxers["live/cam"]
		srv.mu.Unlock()
		m.mu.Lock()
		pt := m.partLocked(uint64(anyNumber(string(p[2]))))
		s := m.segmentLocked(uint64(anyNumber(string(last))))
		in := false
		if s != nil && pt != nil {
			for _, sp := range s.parts {
				in = in || sp == pt
			}
		}
		m.mu.Unlock()
		if in {
			_, b, _ := get(t, base+"part"+string(p[2])+".mp4")
			joined = append(joined, b...)
		}
	}
	if !bytes.Equal(joined, seg) {
		t.Errorf("segment %s (%d bytes) is not its parts joined (%d bytes)", last, len(seg), len(joined))
	}

	// The preload hint is fetched before it exists and arrives once made.
	hint := hintRE.FindSubmatch(pl)[1]
	code, b, took := get(t, base+"part"+string(hint)+".mp4")
	if code != 200 || len(b) < 8 || string(b[4:8]) != "moof" {
		t.Errorf("preload hint part%s: %d %q", hint, code, b[:min(len(b), 8)])
	}
	t.Logf("preload hint answered after %v", took)

	// Blocking reload: ask for the next segment's first part.
	_, pl, _ = get(t, base+"index.m3u8")
	all := segRE.FindAllSubmatch(pl, -1)
	next := anyNumber(string(all[len(all)-1][1])) + 2
	url := base + "index.m3u8?_HLS_msn=" + strconv.Itoa(next) + "&_HLS_part=0"
	code, pl2, took := get(t, url)
	if code != 200 {
		t.Fatalf("blocking reload: %d %s", code, pl2)
	}
	if took < 50*time.Millisecond {
		t.Errorf("blocking reload for a future part answered at once (%v)", took)
	}
	// Segment next has its first part: listed after the last complete one.
	srvMuxer := func() *muxer { srv.mu.Lock(); defer srv.mu.Unlock(); return srv.muxers["live/cam"] }
	m := srvMuxer()
	m.mu.Lock()
	ready, _ := m.readyLocked(int64(next), 0)
	m.mu.Unlock()
	if !ready {
		t.Errorf("blocking reload answered before segment %d part 0 existed", next)
	}
	if code, _, took := get(t, base+"part0.mp4"); code != http.StatusNotFound || took > time.Second {
		t.Errorf("a part dropped from the playlist: %d after %v, want 404 at once", code, took)
	}
	if code, _, _ := get(t, base+"index.m3u8?_HLS_msn=100000"); code != http.StatusBadRequest {
		t.Errorf("_HLS_msn far ahead: %d, want 400", code)
	}

	// Memory: the muxer holds segment_count complete segments and the
	// one being made.
	m.mu.Lock()
	if n := len(m.segs); n > cfg.SegmentCount+1 {
		t.Errorf("muxer holds %d segments, want <= %d", n, cfg.SegmentCount+1)
	}
	m.mu.Unlock()

	// Idle: the muxer leaves the hub once no request came for 300ms.
	testenv.Eventually(t, 3*time.Second, "the idle muxer stopped", func() bool { return srv.Active() == 0 })
	if st := h.Lookup("live", "cam").Stats(); st.Subscribers != 0 {
		t.Errorf("%d subscribers after the muxer stopped", st.Subscribers)
	}
	if code, _, _ := get(t, base+"part0.mp4"); code != http.StatusNotFound {
		t.Errorf("part of a stopped muxer: %d, want 404", code)
	}
}

func TestLiveNotPublishing(t *testing.T) {
	_, ts := testServer(t, hub.New(nil), Config{})
	if code, _, _ := get(t, ts.URL+"/hls/live/none/index.m3u8"); code != http.StatusNotFound {
		t.Errorf("playlist of a stream nobody publishes: %d, want 404", code)
	}
	if code, _, _ := get(t, ts.URL+"/hls/live"); code != http.StatusNotFound {
		t.Errorf("short path: %d, want 404", code)
	}
}

// av1Header is an Enhanced RTMP AV1 sequence start (the codec HLS here
// does not carry).
var av1Header = []byte{0x90, 'a', 'v', '0', '1', 0x81, 0x08, 0x0c, 0x00}

func TestUncarriedCodecIsSaid(t *testing.T) {
	h := hub.New(nil)
	pub, err := h.Publish("live", "cam", hub.StreamConfig{GOPCache: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.Write(msg(remux.KindVideo, 0, av1Header))
	pub.Write(msg(remux.KindVideo, 0, []byte{0x91, 'a', 'v', '0', '1', 0x12, 0x00}))
	_, ts := testServer(t, h, Config{})
	code, body, _ := get(t, ts.URL+"/hls/live/cam/index.m3u8")
	if code != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "video av01 is not carried by HLS") {
		t.Errorf("AV1-only stream: %d %s, want 415 naming the codec", code, body)
	}

	// With AAC beside it, the audio plays and the playlist says why
	// there is no video.
	h2 := hub.New(nil)
	pub2, _ := h2.Publish("live", "cam", hub.StreamConfig{GOPCache: true}, "test")
	defer pub2.Close()
	pub2.Write(msg(remux.KindVideo, 0, av1Header))
	pub2.Write(msg(remux.KindAudio, 0, testenv.AACHeader))
	go func() {
		for i := range 400 {
			pub2.Write(msg(remux.KindAudio, uint32(i*23), testenv.AACFrame))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, ts2 := testServer(t, h2, Config{})
	code, body, _ = get(t, ts2.URL+"/hls/live/cam/index.m3u8")
	if code != 200 || !strings.Contains(string(body), "# video av01 is not carried by HLS") || !strings.Contains(string(body), "#EXTINF:") {
		t.Errorf("AV1+AAC stream: %d\n%s", code, body)
	}
}

// fmp4File builds a small fMP4 file with the recorder's Fragmenter: the
// init section and two fragments of video and audio.
func fmp4File(t testing.TB) []byte {
	f, err := newTestFragmenter()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	file := f.Init(nil)
	rel := int64(0)
	for frag := range 2 {
		for i := range 5 {
			body := testenv.AVCInterframe
			if i == 0 {
				body = testenv.AVCKeyframe
			}
			v := msg(remux.KindVideo, uint32(rel), body)
			f.Add(v, rel)
			v.Release()
			a := msg(remux.KindAudio, uint32(rel), testenv.AACFrame)
			f.Add(a, rel)
			a.Release()
			rel += 40
		}
		if frag == 1 {
			f.Finish()
		}
		file, _, _ = f.Fragment(file)
	}
	return file
}

func TestScanAndShift(t *testing.T) {
	file := fmp4File(t)
	l, err := scanFMP4(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if l.scales[1] != 90000 || l.scales[2] != 44100 {
		t.Errorf("timescales %v, want video 90000, audio 44100", l.scales)
	}
	if len(l.tfdts) != 4 {
		t.Fatalf("%d tfdt fields, want 2 fragments x 2 tracks", len(l.tfdts))
	}
	if end, err := scanInit(bytes.NewReader(file), int64(len(file))); err != nil || end != l.initEnd {
		t.Errorf("scanInit = %d, %v; scanFMP4 says %d", end, err, l.initEnd)
	}
	sec, err := shiftedSection(bytes.NewReader(file), int64(len(file)), l, 1500)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(sec)
	if len(got) != len(file)-int(l.initEnd) {
		t.Fatalf("shifted media is %d bytes, want %d", len(got), len(file)-int(l.initEnd))
	}
	for _, f := range l.tfdts {
		orig := binary.BigEndian.Uint64(file[f.at:])
		now := binary.BigEndian.Uint64(got[f.at-l.initEnd:])
		if want := orig + uint64(l.scales[f.track])*1500/1000; now != want {
			t.Errorf("track %d tfdt %d shifted to %d, want %d", f.track, orig, now, want)
		}
	}
	// Everything else is the file's bytes, also when read in small pieces.
	var small []byte
	buf := make([]byte, 7)
	sec.Seek(0, io.SeekStart)
	for {
		n, err := sec.Read(buf)
		small = append(small, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Equal(small, got) {
		t.Error("reading in 7-byte pieces differs from one read")
	}
	diff := 0
	for i := range got {
		if got[i] != file[int(l.initEnd)+i] {
			diff++
		}
	}
	if diff == 0 || diff > 4*8 {
		t.Errorf("%d bytes differ from the file, want only tfdt bytes", diff)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-12-03T10:00:00Z":      time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"2026-12-03T11:00:00+01:00": time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"1796292000":                time.Unix(1796292000, 0),
		"1796292000.5":              time.Unix(1796292000, 5e8),
		"":                          {},
	} {
		got, err := parseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5", "NaN", "1e300"} {
		if _, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%q) accepted", in)
		}
	}
}

func TestSlicesReader(t *testing.T) {
	r := slices{[]byte("ab"), nil, []byte("cde"), []byte("f")}.reader()
	b := make([]byte, 3)
	if n, _ := r.ReadAt(b, 1); string(b[:n]) != "bcd" {
		t.Errorf("ReadAt(1) = %q", b[:n])
	}
	all, _ := io.ReadAll(r)
	if string(all) != "abcdef" {
		t.Errorf("ReadAll = %q", all)
	}
	if n, err := r.ReadAt(b, 5); n != 1 || err != io.EOF {
		t.Errorf("ReadAt(5) = %d, %v; want 1, EOF", n, err)
	}
}

func newTestFragmenter() (*recorder.Fragmenter, error) {
	v, a := msg(remux.KindVideo, 0, testenv.AVCHeader), msg(remux.KindAudio, 0, testenv.AACHeader)
	defer v.Release()
	defer a.Release()
	return recorder.NewFragmenter(v, a)
}

func TestMaxStreamBytesBoundsTheMuxer(t *testing.T) {
	h := hub.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publishAVC(ctx, t, h, 8)
	// The synthetic segments are a few KB: 1 byte keeps only the newest.
	cfg := Config{SegmentDuration: time.Second, SegmentCount: 7, MaxStreamBytes: 1, IdleTimeout: time.Minute}
	srv, ts := testServer(t, h, cfg)
	start := time.Now()
	code, pl, _ := get(t, ts.URL+"/hls/live/cam/index.m3u8")
	if code != 200 || time.Since(start) > 5*time.Second {
		t.Fatalf("first playlist: %d after %v\n%s", code, time.Since(start), pl)
	}
	time.Sleep(time.Second)
	srv.mu.Lock()
	m := srv.muxers["live/cam"]
	srv.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.completeLocked(); n != 1 {
		t.Errorf("%d complete segments held, want 1 under max_stream_bytes", n)
	}
	if m.segs[0].msn == 0 {
		t.Error("no segment was dropped")
	}
}

func TestRepublishStartsADiscontinuity(t *testing.T) {
	h := hub.New(nil)
	scfg := hub.StreamConfig{GOPCache: true, RepublishGrace: 5 * time.Second}
	pub, err := h.Publish("live", "cam", scfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	// In real time: PROGRAM-DATE-TIME comes from the frames' arrival.
	write := func(p *hub.Publication, from, n int) {
		p.Write(msg(remux.KindVideo, 0, testenv.AVCHeader))
		start := time.Now()
		for i := from; i < from+n; i++ {
			body := testenv.AVCInterframe
			if i%25 == 0 {
				body = testenv.AVCKeyframe
			}
			time.Sleep(time.Until(start.Add(time.Duration(i-from) * 40 * time.Millisecond)))
			p.Write(msg(remux.KindVideo, uint32(i*40), body))
		}
	}
	go write(pub, 0, 51)
	s := New(Options{Hub: h, Config: func() Config { return Config{SegmentDuration: time.Second, IdleTimeout: time.Minute} },
		Admit: func(*http.Request, string, string) (hub.StreamConfig, error) { return scfg, nil }})
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close() }()
	done := make(chan struct{})
	go func() { defer close(done); get(t, ts.URL+"/hls/live/cam/index.m3u8") }()
	time.Sleep(2100 * time.Millisecond)
	pub.Close()
	// The encoder comes back a second later with its clock at 0 again.
	time.Sleep(time.Second)
	pub2, err := h.Publish("live", "cam", scfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub2.Close()
	<-done
	write(pub2, 0, 80)
	_, pl, _ := get(t, ts.URL+"/hls/live/cam/index.m3u8")
	if !bytes.Contains(pl, []byte("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"")) {
		t.Errorf("no discontinuity and new init after the republish:\n%s", pl)
	}
	// PROGRAM-DATE-TIME follows the wall clock across the pause: the
	// segments after it start at least the pause later than they would
	// on the first session's clock.
	before, after, _ := strings.Cut(string(pl), "#EXT-X-DISCONTINUITY\n")
	pdt := func(s string, last bool) time.Time {
		all := pdtRE.FindAllStringSubmatch(s, -1)
		if len(all) == 0 {
			t.Fatalf("no PROGRAM-DATE-TIME in\n%s", s)
		}
		m := all[0]
		if last {
			m = all[len(all)-1]
		}
		p, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lastDur := extinfRE.FindAllStringSubmatch(before, -1)
	d, _ := strconv.ParseFloat(lastDur[len(lastDur)-1][1], 64)
	end := pdt(before, true).Add(time.Duration(d * float64(time.Second)))
	if gap := pdt(after, false).Sub(end); gap < 900*time.Millisecond || gap > 3*time.Second {
		t.Errorf("the second session starts %v after the first ended; the pause was 1s:\n%s", gap, pl)
	}
	if code, b, _ := get(t, ts.URL+"/hls/live/cam/init2.mp4"); code != 200 || string(b[4:8]) != "ftyp" {
		t.Errorf("init2.mp4: %d", code)
	}
}
