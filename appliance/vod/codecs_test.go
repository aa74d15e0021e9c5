package vod

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// Hand-made HEVC tags: a (minimal) hvcC record and a few NAL unit bytes;
// the session only looks at the tag headers.
var (
	codecTHvcC = append([]byte{1}, make([]byte, 22)...)
	codecTNAL  = []byte{0, 0, 0, 3, 0x26, 0x01, 0xaf}
	codecTAAC  = []testenv.FLVTag{{Type: 8, Body: []byte{0xAF, 0, 0x12, 0x10}}, {Type: 8, TS: 10, Body: []byte{0xAF, 1, 0x21}}}
)

func codecTCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// codecTEnhanced: an Enhanced RTMP HEVC clip as our recorder writes it
// (SequenceStart, CodedFrames with CTS), plus AAC.
func codecTEnhanced(ts uint32) []testenv.FLVTag {
	return append([]testenv.FLVTag{
		{Type: 9, TS: ts, Body: codecTCat([]byte{0x90}, []byte("hvc1"), codecTHvcC)},
		{Type: 9, TS: ts, Body: codecTCat([]byte{0x91}, []byte("hvc1"), []byte{0, 0, 80}, codecTNAL)},
		{Type: 9, TS: ts + 40, Body: codecTCat([]byte{0xA1}, []byte("hvc1"), []byte{0, 0, 40}, codecTNAL)},
	}, codecTAAC...)
}

func codecTWrite(t *testing.T, dir, name string, tags []testenv.FLVTag) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, testenv.FLV(tags), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// codecTPlay plays s to its end and returns the media messages' payloads.
func codecTPlay(t *testing.T, s *Session) (video, audio [][]byte) {
	t.Helper()
	s.unpaced = true
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := s.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		end := false
		for _, m := range msgs {
			switch m.Kind {
			case remux.KindVideo:
				video = append(video, append([]byte(nil), m.Payload...))
			case remux.KindAudio:
				audio = append(audio, append([]byte(nil), m.Payload...))
			case remux.KindPlayComplete:
				end = true
			}
			m.Release()
		}
		if end {
			return video, audio
		}
	}
	t.Fatal("no end of play")
	return nil, nil
}

func hvc1Only(c remux.FourCC) bool { return c == remux.CodecHEVC }
func nothing(remux.FourCC) bool    { return false }

// A play of HEVC needs the player's announcement: refused without it (a
// file, or a timeline one of whose segments is HEVC), played as recorded
// with it.
func TestHEVCNeedsAnnouncement(t *testing.T) {
	dir := t.TempDir()
	codecTWrite(t, dir, "a.flv", codecTAAC) // AAC only: fine for anyone
	p := codecTWrite(t, dir, "b.flv", codecTEnhanced(0))
	for _, tg := range []Target{{Path: p, Rel: "live/x/b.flv"}, {Path: dir, Rel: "live/x", Dir: true}} {
		_, err := Open(tg, Options{Supports: nothing})
		if !errors.Is(err, ErrCodecNotAnnounced) || !strings.Contains(err.Error(), "is H.265") || !strings.Contains(err.Error(), "support for hvc1") {
			t.Errorf("%s: Open for a player without hvc1: %v", tg.Rel, err)
		}
		avOnly := func(c remux.FourCC) bool { return c == remux.CodecAV1 }
		if _, err := Open(tg, Options{Supports: avOnly}); !errors.Is(err, ErrCodecNotAnnounced) {
			t.Errorf("%s: Open for a player announcing av01 only: %v", tg.Rel, err)
		}
	}
	if _, err := Open(Target{Path: filepath.Join(dir, "a.flv"), Rel: "a.flv"}, Options{Supports: nothing}); err != nil {
		t.Errorf("AAC-only file refused: %v", err)
	}
	for _, supports := range []func(remux.FourCC) bool{hvc1Only, nil} {
		s, err := Open(Target{Path: p, Rel: "b.flv"}, Options{Supports: supports})
		if err != nil {
			t.Fatal(err)
		}
		video, audio := codecTPlay(t, s)
		s.Close()
		want := codecTEnhanced(0)
		if len(video) != 3 || len(audio) != 2 {
			t.Fatalf("%d video, %d audio messages, want 3 and 2", len(video), len(audio))
		}
		for i, v := range video {
			if !bytes.Equal(v, want[i].Body) {
				t.Errorf("video %d: % x, want % x", i, v, want[i].Body)
			}
		}
	}
}

// Pre-standard HEVC (legacy tag header, CodecID 12) goes out in the
// Enhanced RTMP form players decode.
func TestLegacyHEVCEnhanced(t *testing.T) {
	dir := t.TempDir()
	p := codecTWrite(t, dir, "legacy.flv", append([]testenv.FLVTag{
		{Type: 9, Body: codecTCat([]byte{0x1C, 0, 0, 0, 0}, codecTHvcC)},
		{Type: 9, Body: codecTCat([]byte{0x1C, 1, 0, 0, 80}, codecTNAL)},
		{Type: 9, TS: 40, Body: codecTCat([]byte{0x2C, 1, 0xff, 0xff, 0xd8}, codecTNAL)}, // cts -40
		{Type: 9, TS: 80, Body: []byte{0x5C, 0}},                                         // command frame: dropped
		{Type: 9, TS: 80, Body: []byte{0x1C, 2, 0, 0, 0}},
	}, codecTAAC...))
	if _, err := Open(Target{Path: p, Rel: "legacy.flv"}, Options{Supports: nothing}); !errors.Is(err, ErrCodecNotAnnounced) {
		t.Errorf("legacy HEVC for a player without hvc1: %v", err)
	}
	s, err := Open(Target{Path: p, Rel: "legacy.flv"}, Options{Supports: hvc1Only})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	video, _ := codecTPlay(t, s)
	want := [][]byte{
		codecTCat([]byte{0x90}, []byte("hvc1"), codecTHvcC),
		codecTCat([]byte{0x91}, []byte("hvc1"), []byte{0, 0, 80}, codecTNAL),
		codecTCat([]byte{0xA1}, []byte("hvc1"), []byte{0xff, 0xff, 0xd8}, codecTNAL),
		codecTCat([]byte{0x92}, []byte("hvc1")),
	}
	if len(video) != len(want) {
		t.Fatalf("video messages:\n% x\nwant\n% x", video, want)
	}
	for i := range want {
		if !bytes.Equal(video[i], want[i]) {
			t.Errorf("video %d: % x, want % x", i, video[i], want[i])
		}
		if f := remux.ParseVideo(video[i]); !f.Enhanced || f.Codec != remux.CodecHEVC {
			t.Errorf("video %d parses as %+v", i, f)
		}
	}
}

// Media of a codec the player did not announce that shows up after the
// play was accepted (the publisher switched to HEVC mid-recording) is not
// sent; what the player can decode is.
func TestUnannouncedCodecDropped(t *testing.T) {
	dir := t.TempDir()
	avc := []testenv.FLVTag{
		{Type: 9, Body: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}},
		{Type: 9, Body: codecTCat([]byte{0x17, 1, 0, 0, 0}, codecTNAL)},
	}
	p := codecTWrite(t, dir, "switch.flv", append(append(avc, codecTAAC...), codecTEnhanced(40)...))
	s, err := Open(Target{Path: p, Rel: "switch.flv"}, Options{Supports: nothing})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	video, audio := codecTPlay(t, s)
	// Audio: the repeated (identical) AAC sequence header is not resent.
	if len(video) != 2 || len(audio) != 3 {
		t.Fatalf("%d video, %d audio messages; want the 2 H.264 ones and the 3 AAC ones", len(video), len(audio))
	}
	for i, v := range video {
		if remux.ParseVideo(v).Codec != remux.CodecAVC {
			t.Errorf("video %d sent: % x", i, v)
		}
	}
}
