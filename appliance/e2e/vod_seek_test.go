//go:build linux

package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

// The commands of a recorded play over the wire, in the order a Flash-era
// player sends them: getStreamLength, play, seek, pause, unpause. The
// statuses arrive in order with the media: Seek.Notify, then the keyframe
// at or before the target with its absolute file time; Pause.Notify, then
// no media; Unpause.Notify, then media resumes where it stopped.
// (rtmpdump's --start is the real-client check of the same code; it is in
// TestE2EVODPlayFiles.)
func TestE2EVODSeekPauseOverRTMP(t *testing.T) {
	f := setupVOD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, f.srv.url("vod", "live/cam1/clip.flv"), rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	length, err := c.StreamLength(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if length < 7.8 || length > 8.1 {
		t.Errorf("getStreamLength = %.3f s, want the clip's 8 s", length)
	}
	if err := c.Play(ctx, name); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))

	// next reads until a status with code, returning the video frames
	// before it; or, with code "", the first video frame.
	type frame struct {
		ts  uint32
		key bool
	}
	next := func(code string) (before []frame) {
		t.Helper()
		for {
			m, st, err := c.ReadPlay()
			if err != nil {
				t.Fatalf("waiting for %q: %v (after %d frames)", code, err, len(before))
			}
			if st != nil {
				if st.String("code") == code {
					return before
				}
				continue
			}
			if m.Kind == remux.KindVideo && !m.IsSequenceHeader() {
				before = append(before, frame{m.Timestamp, m.IsKeyframe()})
			}
			m.Release()
			if code == "" && len(before) > 0 {
				return before
			}
		}
	}
	// Real-time pacing with a lead: the first second or so comes at once.
	first := next("")
	if first[0].ts > 100 || !first[0].key {
		t.Fatalf("play starts with %+v, want the first keyframe (at 0, or a few ms after for the AAC priming)", first[0])
	}

	// Far enough from the end that media is left to pace after the lead
	// (the client's 3 s buffer + 1 s) when the pause comes: the session
	// hands over the lead at once, and a seek to 5.5 s of this 8 s clip
	// had it all sent before the pause arrived.
	if err := c.Seek(2500); err != nil {
		t.Fatal(err)
	}
	next("NetStream.Seek.Notify")
	after := next("")
	// GOP 25 at 25 fps: keyframes every second; 2500 ms → the one at 2 s,
	// in file time (librtmp's resume relies on absolute timestamps).
	if !after[0].key || after[0].ts < 1900 || after[0].ts > 2100 {
		t.Fatalf("after seek(2500) the first frame is %+v, want the keyframe at 2000 ms", after[0])
	}

	if err := c.Pause(true, float64(after[0].ts)); err != nil {
		t.Fatal(err)
	}
	upTo := next("NetStream.Pause.Notify")
	last := after[0].ts
	if len(upTo) > 0 {
		last = upTo[len(upTo)-1].ts
	}
	t.Logf("paused after %d more frames, the last at %d ms", len(upTo), last)
	// Paused: nothing for a second (the read times out).
	c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		m, st, err := c.ReadPlay()
		if err != nil {
			break // deadline: nothing came
		}
		if m != nil {
			if m.Kind == remux.KindVideo {
				t.Fatalf("video at %d ms while paused", m.Timestamp)
			}
			m.Release()
		} else {
			t.Logf("status while paused: %s", st.String("code"))
		}
	}
	// Nothing was in flight when the deadline hit (paused), so the reader
	// stopped at a message boundary and can go on once it is moved.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := c.Pause(false, float64(last)); err != nil {
		t.Fatal(err)
	}
	next("NetStream.Unpause.Notify")
	resumed := next("")
	if resumed[0].ts+1000 < last || resumed[0].ts > last+1100 {
		t.Errorf("after unpause at %d ms the first frame is at %d ms", last, resumed[0].ts)
	}
	rest := next("NetStream.Play.Complete")
	if n := len(rest); n == 0 || rest[n-1].ts < 7800 {
		t.Errorf("play ended at %v, want the clip's end near 7960 ms", rest[max(0, n-1):])
	}
}

// What a recorded play says before and after its media, as rtmpdump (-V
// logs every control event and status) sees it: StreamIsRecorded,
// StreamBegin, NetStream.Play.Reset, NetStream.Play.Start, onMetaData with
// the duration; at the end StreamEOF and NetStream.Play.Complete.
func TestE2EVODStatusSequence(t *testing.T) {
	f := setupVOD(t)
	testenv.NeedTool(t, "rtmpdump")
	out := filepath.Join(t.TempDir(), "out.flv")
	r := runTool(t, 40*time.Second, nil, "rtmpdump", "-V", "-r", f.srv.url("vod", "live/cam1/clip.flv"), "-o", out)
	if r.err != nil {
		t.Fatalf("rtmpdump: %s\n%s", r.status(), excerpt(r.stderr.String(), 30, nil))
	}
	log := r.stderr.String()
	at := 0
	for _, want := range []string{
		"HandleCtrl, Stream IsRecorded 1",
		"HandleCtrl, Stream Begin 1",
		"onStatus: NetStream.Play.Reset",
		"onStatus: NetStream.Play.Start",
		"INFO:   duration ", // onMetaData, checked below
		"HandleCtrl, Stream EOF 1",
	} {
		i := strings.Index(log[at:], want)
		if i < 0 {
			t.Fatalf("rtmpdump -V: %q missing, or not after the events before it\n%s", want, excerpt(log, 60, func(l string) bool { return strings.HasPrefix(l, "DEBUG2") || strings.HasPrefix(l, "  ") }))
		}
		at += i + len(want)
	}
	if m := regexp.MustCompile(`INFO:   duration +([0-9.]+)`).FindStringSubmatch(log); m == nil {
		t.Errorf("rtmpdump -V: no duration in the metadata")
	} else if d, _ := strconv.ParseFloat(m[1], 64); d < 7.8 || d > 8.1 {
		t.Errorf("onMetaData duration %s, want the clip's 8 s", m[1])
	}
	if !strings.Contains(log, "STRING:	NetStream.Play.Complete") {
		t.Errorf("rtmpdump -V: no NetStream.Play.Complete at the end")
	}
	if !strings.Contains(log, "Download complete") {
		t.Errorf("rtmpdump did not call the download complete")
	}
}

// Play auth of the recording's app applies to its playback: with play
// keys on app "live", a recording of live/cam1 plays only with the key,
// and a wrong key is refused like none.
func TestE2EVODPlayAuth(t *testing.T) {
	testenv.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	clipDir := filepath.Join(dir, "rec", "live", "cam1")
	if err := os.MkdirAll(clipDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := runTool(t, 30*time.Second, nil, "ffmpeg", append(vodSourceArgs("2"), filepath.Join(clipDir, "clip.flv"))...); r.err != nil {
		t.Fatal(r.report())
	}
	cfg := loadYAML(t, filepath.Join(dir, "t.yaml"), "storage:\n  dir: "+filepath.Join(dir, "rec")+"\napps:\n  live:\n    play:\n      keys: [s3cret]\n")
	a := appliance.New(cfg, slog.New(slog.DiscardHandler))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(5 * time.Second)
	base := "rtmp://" + a.RTMPAddr().String() + "/vod/live/cam1/clip.flv"
	play := func(url string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Play(ctx, name); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			m, err := c.ReadMedia()
			if err != nil {
				return err
			}
			key := m.Kind == remux.KindVideo && m.IsKeyframe()
			m.Release()
			if key {
				return nil
			}
		}
	}
	for _, url := range []string{base, base + "?key=wrong"} {
		if err := play(url); err == nil {
			t.Errorf("%s played without the play key", url)
		} else {
			t.Logf("%s: %v", url, err)
		}
	}
	if err := play(base + "?key=s3cret"); err != nil {
		t.Errorf("with the play key: %v", err)
	}
}
