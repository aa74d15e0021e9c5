package recorder

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// indexTree lays out files under a fresh storage directory, each written
// long ago (so none is "recently written"), and returns the directory.
func indexTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for rel, body := range files {
		writeOld(t, dir, rel, body)
	}
	return dir
}

func rels(segs []SegmentInfo) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Rel
	}
	return out
}

var (
	fragmentedMP4  = bytes.Join([][]byte{box("ftyp", []byte("isom")), box("moov", box("mvhd", make([]byte, 100)), box("mvex")), box("moof"), box("mdat")}, nil)
	progressiveMP4 = bytes.Join([][]byte{box("ftyp", []byte("isom")), box("moov", box("mvhd", make([]byte, 100))), box("mdat")}, nil)
)

func TestIndexLists(t *testing.T) {
	dir := indexTree(t, map[string][]byte{
		"live/cam1/2026-11-24_10-00-00.mp4":     fragmentedMP4,
		"live/cam1/2026-11-24_10-00-00-1.mp4":   progressiveMP4,
		"live/cam1/2026-11-24_10-00-00-10.mp4":  progressiveMP4,
		"live/cam1/2026-11-24_10-00-00-2.mp4":   progressiveMP4,
		"live/cam1/2026-11-24_10-10-00.flv":     []byte("FLV"),
		"live/cam1/notes.txt":                   []byte("x"),
		"live/cam1/2026-11-24_10-20-00.mp4.tmp": progressiveMP4,
		"live/cam 2 ✓/2026-11-24_09-00-00.flv":  []byte("FLV"),
		"alpha/door/intro.flv":                  []byte("FLV"),
		"loose.mp4":                             progressiveMP4,
	})
	outside := filepath.Join(t.TempDir(), "secret.mp4")
	os.WriteFile(outside, progressiveMP4, 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "live", "cam1", "escape.mp4")); err != nil {
		t.Fatal(err)
	}
	x := NewIndex(dir, nil)

	all, err := x.All(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"loose.mp4", // no app: first
		"alpha/door/intro.flv",
		"live/cam 2 ✓/2026-11-24_09-00-00.flv",
		"live/cam1/2026-11-24_10-00-00.mp4",
		"live/cam1/2026-11-24_10-00-00-1.mp4",
		"live/cam1/2026-11-24_10-00-00-2.mp4",
		"live/cam1/2026-11-24_10-00-00-10.mp4",
		"live/cam1/2026-11-24_10-10-00.flv",
	}
	if got := rels(all); !slices.Equal(got, want) {
		t.Fatalf("All:\n%q\nwant\n%q", got, want)
	}
	formats := map[string]string{}
	for _, s := range all {
		formats[s.Rel] = s.Format
		if s.Path != filepath.Join(dir, filepath.FromSlash(s.Rel)) || s.Open || s.Size == 0 {
			t.Errorf("%s: %+v", s.Rel, s)
		}
	}
	for rel, f := range map[string]string{
		"live/cam1/2026-11-24_10-00-00.mp4":   FormatFMP4,
		"live/cam1/2026-11-24_10-00-00-1.mp4": FormatMP4,
		"live/cam1/2026-11-24_10-10-00.flv":   FormatFLV,
	} {
		if formats[rel] != f {
			t.Errorf("%s: format %q, want %q", rel, formats[rel], f)
		}
	}
	if s := all[2]; s.App != "live" || s.Stream != "cam 2 ✓" || !s.Start.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.Local)) {
		t.Errorf("odd stream name: %+v", s)
	}
	if s := all[1]; s.Name.Start.IsZero() != true || !s.Start.Equal(s.ModTime) {
		t.Errorf("a name without a time starts at its modification time: %+v", s)
	}
	if s := all[0]; s.App != "" || s.Stream != "" {
		t.Errorf("a file at the top has no app or stream: %+v", s)
	}

	streams, err := x.Streams()
	if err != nil || !slices.Equal(streams, []StreamRef{{"alpha", "door"}, {"live", "cam 2 ✓"}, {"live", "cam1"}}) {
		t.Errorf("Streams = %v, %v", streams, err)
	}

	segs, err := x.Segments("live", "cam1", time.Time{}, time.Time{})
	if err != nil || !slices.Equal(rels(segs), want[3:]) {
		t.Errorf("Segments = %q, %v; want %q", rels(segs), err, want[3:])
	}
	for _, bad := range [][2]string{{"..", "x"}, {"live", "../live/cam1"}, {"", "cam1"}, {"live", `a\b`}} {
		if _, err := x.Segments(bad[0], bad[1], time.Time{}, time.Time{}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Segments(%q, %q): %v, want ErrUnsafePath", bad[0], bad[1], err)
		}
	}
	if _, err := x.Segments("live", "nobody", time.Time{}, time.Time{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Segments of a stream without recordings: %v, want fs.ErrNotExist", err)
	}

	s, err := x.Lookup("live/cam1/2026-11-24_10-00-00-1.mp4")
	if err != nil || s.Format != FormatMP4 || s.Name.Seq != 1 || s.App != "live" || s.Stream != "cam1" {
		t.Errorf("Lookup = %+v, %v", s, err)
	}
	for rel, wantErr := range map[string]error{
		"live/cam1/escape.mp4":                  ErrUnsafePath, // a link out
		"live/../../etc/passwd":                 ErrUnsafePath,
		"/etc/passwd":                           ErrUnsafePath,
		"":                                      ErrUnsafePath,
		"live/cam1/notes.txt":                   fs.ErrNotExist,
		"live/cam1":                             fs.ErrNotExist, // a directory
		"live/cam1/2026-11-24_10-20-00.mp4.tmp": fs.ErrNotExist,
		"live/cam1/2026-01-01_00-00-00.mp4":     fs.ErrNotExist,
	} {
		if _, err := x.Lookup(rel); !errors.Is(err, wantErr) {
			t.Errorf("Lookup(%q): %v, want %v", rel, err, wantErr)
		}
	}
	if r, err := x.RelPath(filepath.Join(dir, "live", "cam1", "a.mp4")); err != nil || r != "live/cam1/a.mp4" {
		t.Errorf("RelPath = %q, %v", r, err)
	}
	if _, err := x.RelPath(filepath.Join(dir, "..", "x.mp4")); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("RelPath outside: %v", err)
	}

	// A storage directory that is a symbolic link is listed all the same.
	link := filepath.Join(t.TempDir(), "storage")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	viaLink, err := NewIndex(link, nil).All(time.Time{}, time.Time{})
	if err != nil || !slices.Equal(rels(viaLink), want) || viaLink[0].Path != filepath.Join(link, "loose.mp4") {
		t.Errorf("All through a linked storage dir = %q, %v; want %q", rels(viaLink), err, want)
	}

	// A storage directory not made yet has no recordings.
	if got, err := NewIndex(filepath.Join(dir, "absent"), nil).All(time.Time{}, time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("All of a missing directory = %v, %v", got, err)
	}
}

// Between two times: the segments with media in [from, to], their end
// being Start + Duration when known, else the last write.
func TestIndexBetween(t *testing.T) {
	dir := indexTree(t, map[string][]byte{
		"live/cam1/2026-11-24_10-00-00.flv": []byte("FLV"),
		"live/cam1/2026-11-24_10-10-00.flv": []byte("FLV"),
		"live/cam1/2026-11-24_11-00-00.flv": []byte("FLV"),
	})
	at := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, time.Local) }
	// Each segment's last write is 10 minutes after its start, but the
	// last one's, which lasts 5 minutes by the recorder.
	for _, n := range []struct {
		name string
		end  time.Time
	}{{"2026-11-24_10-00-00.flv", at(10, 10)}, {"2026-11-24_10-10-00.flv", at(10, 20)}, {"2026-11-24_11-00-00.flv", at(11, 10)}} {
		os.Chtimes(filepath.Join(dir, "live", "cam1", n.name), n.end, n.end)
	}
	x := NewIndex(dir, nil)
	x.Closed(Segment{Path: filepath.Join(dir, "live", "cam1", "2026-11-24_11-00-00.flv"), Duration: 5 * time.Minute})
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"unbounded", time.Time{}, time.Time{}, []string{"10-00-00", "10-10-00", "11-00-00"}},
		{"inside the first", at(10, 5), at(10, 6), []string{"10-00-00"}},
		{"across a boundary", at(10, 5), at(10, 15), []string{"10-00-00", "10-10-00"}},
		{"in a gap", at(10, 30), at(10, 50), nil},
		{"after the recorder's end, before the last write", at(11, 6), time.Time{}, nil},
		{"from before everything", at(9, 0), at(10, 0), []string{"10-00-00"}},
		{"until", time.Time{}, at(10, 9), []string{"10-00-00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs, err := x.Segments("live", "cam1", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range segs {
				got = append(got, s.Name.Start.Format("15-04-05"))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Open: being written by a recorder (inUse), or written within
// RecentWriteWindow and not reported closed.
func TestIndexOpen(t *testing.T) {
	dir := indexTree(t, map[string][]byte{
		"live/cam1/2026-11-24_10-00-00.flv": []byte("FLV"),
		"live/cam1/2026-11-24_10-10-00.flv": []byte("FLV"),
		"live/cam1/2026-11-24_10-20-00.flv": []byte("FLV"),
	})
	p := func(n string) string { return filepath.Join(dir, "live", "cam1", n) }
	recording := p("2026-11-24_10-20-00.flv")
	x := NewIndex(dir, func(path string) bool { return path == recording })
	now := time.Now()
	os.Chtimes(p("2026-11-24_10-10-00.flv"), now, now) // just written, by whom?
	segs, err := x.Segments("live", "cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(segs []SegmentInfo) []bool {
		var out []bool
		for _, s := range segs {
			out = append(out, s.Open)
		}
		return out
	}
	if got := open(segs); !slices.Equal(got, []bool{false, true, true}) {
		t.Errorf("open = %v, want [false true true]", got)
	}
	// The recorder of this run reports the recent one closed: not open,
	// although just written.
	x.Closed(Segment{Path: p("2026-11-24_10-10-00.flv"), Duration: time.Minute})
	segs, _ = x.Segments("live", "cam1", time.Time{}, time.Time{})
	if got := open(segs); !slices.Equal(got, []bool{false, false, true}) {
		t.Errorf("open after Closed = %v, want [false false true]", got)
	}
	if segs[1].Duration != time.Minute {
		t.Errorf("closed segment's duration %v, want the recorder's 1m", segs[1].Duration)
	}
	// Ten seconds on, nothing but the recorder's file is open.
	x.now = func() time.Time { return now.Add(RecentWriteWindow) }
	x2 := NewIndex(dir, x.inUse)
	x2.now = x.now
	segs, _ = x2.Segments("live", "cam1", time.Time{}, time.Time{})
	if got := open(segs); !slices.Equal(got, []bool{false, false, true}) {
		t.Errorf("open later = %v, want [false false true]", got)
	}
}
