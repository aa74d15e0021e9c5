package recorder

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestParseSegmentName(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	at := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, paris) }
	for _, tc := range []struct {
		name    string
		ok      bool
		start   time.Time // zero: none
		seq     int
		ext     string
		comment string
	}{
		{"2026-11-24_10-00-00.mp4", true, at(2026, 11, 24, 10, 0, 0), 0, ".mp4", "default template"},
		{"2026-11-24_10-00-00.flv", true, at(2026, 11, 24, 10, 0, 0), 0, ".flv", "flv"},
		{"2026-11-24_10-00-00-1.mp4", true, at(2026, 11, 24, 10, 0, 0), 1, ".mp4", "taken within the second"},
		{"2026-11-24_10-00-00-12.flv", true, at(2026, 11, 24, 10, 0, 0), 12, ".flv", "many republishes"},
		{"2026-11-24_23-59-59.MP4", true, at(2026, 11, 24, 23, 59, 59), 0, ".mp4", "extension in capitals"},
		{"live/cam1/2026-01-02_03-04-05.mp4", true, at(2026, 1, 2, 3, 4, 5), 0, ".mp4", "a path: its base name"},
		{"2026-11-24_10-00-00 (copy).mp4", true, at(2026, 11, 24, 10, 0, 0), 0, ".mp4", "a copy keeps the time"},
		{"2026-11-24_10-00-00-0.mp4", true, at(2026, 11, 24, 10, 0, 0), 0, ".mp4", "-0 is no suffix"},
		{"2026-11-24_10-00-00-+3.mp4", true, at(2026, 11, 24, 10, 0, 0), 0, ".mp4", "signed suffix is not one"},
		{"2026-11-24_10-00-00-x.mp4", true, at(2026, 11, 24, 10, 0, 0), 0, ".mp4", "non-numeric suffix"},
		{"2026-13-24_10-00-00.mp4", true, time.Time{}, 0, ".mp4", "month 13: no time"},
		{"2026-11-24 10:00:00.mp4", true, time.Time{}, 0, ".mp4", "another layout: no time"},
		{"intro.flv", true, time.Time{}, 0, ".flv", "hand-put file"},
		{"Ünïcødé ✓ cam.mp4", true, time.Time{}, 0, ".mp4", "odd characters"},
		{"_.mp4", true, time.Time{}, 0, ".mp4", "a safeName placeholder"},
		{".mp4", true, time.Time{}, 0, ".mp4", "extension only"},
		{"2026-11-24_10-00-00.mp4.tmp", false, time.Time{}, 0, "", "progressive rewrite leftover"},
		{"notes.txt", false, time.Time{}, 0, "", "not a recording"},
		{"2026-11-24_10-00-00", false, time.Time{}, 0, "", "no extension"},
		{"", false, time.Time{}, 0, "", "empty"},
	} {
		t.Run(tc.comment, func(t *testing.T) {
			n, ok := parseSegmentNameIn(tc.name, paris)
			if ok != tc.ok {
				t.Fatalf("parse(%q) ok = %v, want %v", tc.name, ok, tc.ok)
			}
			if !n.Start.Equal(tc.start) || n.Seq != tc.seq || n.Ext != tc.ext {
				t.Errorf("parse(%q) = %v seq %d ext %q; want %v seq %d ext %q", tc.name, n.Start, n.Seq, n.Ext, tc.start, tc.seq, tc.ext)
			}
			if IsSegmentFile(tc.name) != tc.ok {
				t.Errorf("IsSegmentFile(%q) = %v, want %v", tc.name, !tc.ok, tc.ok)
			}
		})
	}
}

// What the recorder names, the index reads back: the time of the template
// and the -N of createSegmentFile.
func TestSegmentNameRoundTrip(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(2026, 12, 3, 7, 30, 5, 0, time.Local),
		time.Date(1999, 1, 1, 0, 0, 0, 0, time.Local),
		time.Date(2030, 6, 30, 23, 59, 59, 0, time.Local),
	} {
		for _, format := range []string{FormatFMP4, FormatMP4, FormatFLV} {
			for _, i := range []int{0, 1, 9, 10, 123} {
				rel := expandTemplate(DefaultPathTemplate, "live", "cam/1", start)
				name := seqName(rel, i, formatExt(format))
				n, ok := ParseSegmentName(name)
				if !ok || !n.Start.Equal(start) || n.Seq != i || n.Ext != formatExt(format) {
					t.Errorf("%s: parsed %+v %v, want %v seq %d", name, n, ok, start, i)
				}
			}
		}
	}
}

func TestCompareSegmentNames(t *testing.T) {
	// In play order.
	want := []string{
		"2026-11-24_09-59-59.mp4",
		"2026-11-24_10-00-00.flv",
		"2026-11-24_10-00-00.mp4",
		"2026-11-24_10-00-00 (copy).mp4",
		"2026-11-24_10-00-00-1.mp4",
		"2026-11-24_10-00-00-2.mp4",
		"2026-11-24_10-00-00-10.mp4", // after -2, unlike a string sort
		"2026-11-24_10-00-01.mp4",
		"2026-12-01_00-00-00.mp4",
		"a.flv", // names without a time come after, by name
		"b.mp4",
		"intro.mp4",
	}
	for range 20 {
		got := slices.Clone(want)
		rand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, CompareSegmentNames)
		if !slices.Equal(got, want) {
			t.Fatalf("sorted:\n%q\nwant\n%q", got, want)
		}
	}
	for _, a := range want {
		for _, b := range want {
			if c, r := CompareSegmentNames(a, b), CompareSegmentNames(b, a); c != -r || (c == 0) != (a == b) {
				t.Errorf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, c, b, a, r)
			}
		}
	}
	if CompareSegmentNames("/x/live/cam1/2026-11-24_10-00-00.mp4", "2026-11-24_10-00-00.mp4") != 0 {
		t.Error("directories change the order; only base names count")
	}
}

// FuzzParseSegmentName: any name parses without a panic; a name with a time
// reads back the time and suffix it was made of; the order is antisymmetric.
func FuzzParseSegmentName(f *testing.F) {
	for _, s := range []string{"2026-11-24_10-00-00.mp4", "2026-11-24_10-00-00-3.flv", "intro.flv", "2026-11-24_10-00-00.mp4.tmp", "x/y/2026-02-30_25-61-61.mp4", "\x00.mp4"} {
		f.Add(s, "2026-11-24_10-00-00-1.mp4")
	}
	f.Fuzz(func(t *testing.T, name, other string) {
		n, ok := parseSegmentNameIn(name, time.UTC)
		if ok != IsSegmentFile(name) {
			t.Fatalf("parse ok %v but IsSegmentFile %v for %q", ok, !ok, name)
		}
		if !n.Start.IsZero() {
			again := n.Start.Format(nameTimeLayout)
			if n.Seq > 0 {
				again += "-" + strconv.Itoa(n.Seq)
			}
			m, ok := parseSegmentNameIn(again+n.Ext, time.UTC)
			if !ok || !m.Start.Equal(n.Start) || m.Seq != n.Seq {
				t.Fatalf("%q parsed as %+v, but its canonical name %q as %+v", name, n, again+n.Ext, m)
			}
		}
		if c, r := CompareSegmentNames(name, other), CompareSegmentNames(other, name); c != -r {
			t.Fatalf("Compare(%q, %q) = %d, reversed %d", name, other, c, r)
		}
	})
}
