package vod

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

func TestRelName(t *testing.T) {
	for _, c := range []struct{ app, name, want string }{
		{"vod/live", "cam1/x.mp4", "live/cam1/x.mp4"}, // ffmpeg
		{"vod/live/cam1", "x.mp4", "live/cam1/x.mp4"}, // rtmpdump
		{"vod", "live/cam1", "live/cam1"},             // ffmpeg, directory
		{"vod/live", "cam1", "live/cam1"},             // rtmpdump, directory
		{"/vod/live/", "cam1/x", "live/cam1/x"},       // .flv dropped
	} {
		if got := RelName(c.app, c.name); got != c.want {
			t.Errorf("RelName(%q, %q) = %q, want %q", c.app, c.name, got, c.want)
		}
	}
}

func TestResolveSafety(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(root, "live", "cam1"), 0o755)
	os.WriteFile(filepath.Join(root, "live", "cam1", "a.flv"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "live", "cam1", "b.mp4"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.flv"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "live", "out"))
	os.Symlink(filepath.Join(outside, "secret.flv"), filepath.Join(root, "live", "cam1", "link.flv"))
	rel, _ := filepath.Rel(root, outside)
	rel = filepath.ToSlash(rel)
	for _, c := range []struct{ rel, want string }{
		{"live/cam1/a.flv", "live/cam1/a.flv"},
		{"live/cam1/a", "live/cam1/a.flv"},
		{"live/cam1/b", "live/cam1/b.mp4"},
		{"live/cam1", "live/cam1"},
		{"live/cam1/%61.flv", "live/cam1/a.flv"},
	} {
		got, err := Resolve(root, c.rel, false)
		if err != nil || got.Rel != c.want {
			t.Errorf("Resolve(%q) = %+v, %v; want %s", c.rel, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"live/cam1/../../" + rel + "/secret.flv",
		"../" + rel + "/secret.flv",
		"live/%2e%2e/%2e%2e/" + rel + "/secret.flv",
		"live%2f..%2f..%2f" + strings.ReplaceAll(rel, "/", "%2f") + "%2fsecret.flv",
		"/" + filepath.ToSlash(outside) + "/secret.flv",
		filepath.ToSlash(outside) + "/secret.flv",
		"live/out/secret.flv",
		"live/cam1/link.flv",
		"live//cam1/a.flv",
		"live/./cam1/a.flv",
		"live\\..\\..\\x",
		"live/cam1/a.flv\x00",
		"c:/windows",
		"%zz",
		"",
		"live/cam1/none.mp4",
	} {
		if got, err := Resolve(root, bad, false); err == nil {
			t.Errorf("Resolve(%q) = %+v, want an error", bad, got)
		} else if !errors.Is(err, ErrUnsafe) && !errors.Is(err, rtmp.ErrStreamNotFound) {
			t.Errorf("Resolve(%q): %v", bad, err)
		}
	}
}

// vodTMedia makes an 8 s H.264/AAC file (GOP 25 at 25 fps) with ffmpeg.
func vodTMedia(t testing.TB, dir, name string) string {
	t.Helper()
	testenv.NeedTool(t, "ffmpeg")
	p := filepath.Join(dir, name)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return p
}

type vodTMsg struct {
	kind remux.Kind
	ts   uint32
	key  bool
}

// vodTNext calls Next once and summarises the batch.
func vodTNext(t *testing.T, s *Session) []vodTMsg {
	t.Helper()
	msgs, err := s.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]vodTMsg, len(msgs))
	for i, m := range msgs {
		out[i] = vodTMsg{m.Kind, m.Timestamp, m.IsKeyframe()}
		m.Release()
	}
	return out
}

func TestSessionStartSeekPauseEnd(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"clip.mp4", "clip.flv"} {
		t.Run(name, func(t *testing.T) {
			p := vodTMedia(t, dir, name)
			s, err := Open(Target{Path: p, Rel: name}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if l := s.Length(); l < 7.9 || l > 8.2 {
				t.Errorf("Length %.3f", l)
			}
			s.SetBufferLength(0) // lead = 1 s margin
			start := time.Now()
			var got []vodTMsg
			for len(got) < 3 || got[len(got)-1].ts < 1500 {
				got = append(got, vodTNext(t, s)...)
			}
			if got[0].kind != remux.KindData || got[1].kind != remux.KindVideo || got[2].kind != remux.KindAudio {
				t.Errorf("start: %+v, want onMetaData and the sequence headers", got[:3])
			}
			// 1.5 s of media with a 1 s lead: about half a second of wall time.
			if el := time.Since(start); el < 300*time.Millisecond || el > 1500*time.Millisecond {
				t.Errorf("1.5 s of media took %v with a 1 s lead", el)
			}
			// Seek: marker, metadata (at 0: ffmpeg takes a later one for a data
			// track) and headers at the keyframe, then the keyframe.
			s.Seek(5500)
			b := vodTNext(t, s)
			for len(b) < 5 {
				b = append(b, vodTNext(t, s)...)
			}
			if b[0].kind != remux.KindSeekNotify || b[0].ts > 5500 || b[0].ts < 4900 {
				t.Fatalf("after seek: %+v", b[:5])
			}
			if b[1].kind != remux.KindData || b[1].ts != 0 || b[2].ts != b[0].ts || b[4].kind != remux.KindVideo || !b[4].key || b[4].ts != b[0].ts {
				t.Errorf("after seek: %+v", b[:5])
			}
			// Pause: Next delivers nothing until unpaused.
			s.Pause(true, 0)
			done := make(chan []vodTMsg)
			go func() {
				var all []vodTMsg
				for {
					msgs, err := s.Next(nil)
					if err != nil {
						done <- all
						return
					}
					for _, m := range msgs {
						all = append(all, vodTMsg{m.Kind, m.Timestamp, m.IsKeyframe()})
						m.Release()
					}
					if all[len(all)-1].kind == remux.KindPlayComplete {
						done <- all
						return
					}
				}
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case <-done:
				t.Fatal("play went on while paused")
			default:
			}
			s.Pause(false, 0)
			select {
			case all := <-done:
				last := all[len(all)-1]
				if last.kind != remux.KindPlayComplete {
					t.Errorf("end: %+v", last)
				}
				for i := 1; i < len(all)-1; i++ {
					if all[i].kind == all[i-1].kind && all[i].ts < all[i-1].ts {
						t.Errorf("timestamps go back: %+v -> %+v", all[i-1], all[i])
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no end of play")
			}
		})
	}
}

func TestSessionStartArgument(t *testing.T) {
	p := vodTMedia(t, t.TempDir(), "clip.mp4")
	s, err := Open(Target{Path: p, Rel: "clip.mp4"}, Options{Start: 5000, Duration: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []vodTMsg
	for len(got) == 0 || got[len(got)-1].kind != remux.KindPlayComplete {
		got = append(got, vodTNext(t, s)...)
	}
	// Rebased to 0 at the keyframe at or before 5 s (4.023); the duration
	// ends it 1 s after 5 s: at 6 s = 1.977 s rebased.
	if got[3].ts != 0 || !got[3].key {
		t.Errorf("first media %+v", got[3])
	}
	// onMetaData at minus the start: librtmp adds the start to every
	// timestamp, and ffmpeg reads an onMetaData anywhere but at 0 as a
	// data packet (a "Subtitle: text" stream in rtmpdump's file).
	if got[0].kind != remux.KindData || got[0].ts != 1<<32-5000 {
		t.Errorf("onMetaData %+v, want it at -5000", got[0])
	}
	if n := len(got); got[n-2].ts > 1980 || got[n-2].ts < 1800 {
		t.Errorf("last media %+v", got[n-2])
	}
}

// BenchmarkSessions measures concurrent playback sessions (no pacing
// wait: the lead covers the file) and reports heap per session.
func BenchmarkSessions(b *testing.B) {
	p := vodTMedia(b, b.TempDir(), "clip.mp4")
	const sessions = 100
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	ss := make([]*Session, sessions)
	for i := range ss {
		s, err := Open(Target{Path: p, Rel: "clip.mp4"}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.SetBufferLength(0)
		msgs, _ := s.Next(nil) // opens the file, reads the first batch
		for _, m := range msgs {
			m.Release()
		}
		ss[i] = s
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	perSession := float64(ms1.HeapAlloc-ms0.HeapAlloc) / sessions
	for _, s := range ss {
		s.Close()
		s.Next(nil)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := Open(Target{Path: p, Rel: "clip.mp4"}, Options{})
			if err != nil {
				b.Error(err)
				return
			}
			s.unpaced = true // measure the read path
			for {
				msgs, err := s.Next(nil)
				if err != nil {
					b.Error(err)
					return
				}
				end := false
				for _, m := range msgs {
					end = end || m.Kind == remux.KindPlayComplete
					m.Release()
				}
				if end {
					break
				}
			}
			s.Close()
			s.Next(nil)
		}
	})
	b.ReportMetric(perSession, "heapB/session")
	b.ReportMetric(8000/(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6)/float64(runtime.GOMAXPROCS(0)), "realtime-sessions/core")
}
