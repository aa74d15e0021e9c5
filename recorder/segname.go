package recorder

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Segment file names. DefaultPathTemplate ends in the segment's start time,
// local, to the second; a name already taken (a stream republished within
// the same second) gets -1, -2, ... before the extension. This file is the
// one place that reads names back: the recordings index, playback and the
// API all go through ParseSegmentName and CompareSegmentNames (by way of
// CompareSegments, which puts a start sidecar's true start first).

// nameTimeLayout is the time part of a default-template file name.
const nameTimeLayout = "2006-01-02_15-04-05"

// Extensions of the recorder's files, by format (fmp4 and mp4 share one).
const (
	extMP4 = ".mp4"
	extFLV = ".flv"
)

// SegmentName is what a segment file's name says about it.
type SegmentName struct {
	// Start is the local time the name encodes, to the second; zero when
	// the name carries none (a custom template, a file put there by hand).
	Start time.Time
	// Seq is the uniqueness suffix: 2 for "2026-11-24_10-00-00-2.mp4",
	// 0 without one.
	Seq int
	// Ext is the extension in lower case: ".mp4" or ".flv".
	Ext string
}

// IsSegmentFile reports whether a file name is a recording by its
// extension (.mp4 or .flv, in any case). NAME.mp4.tmp, left by an
// interrupted progressive rewrite, is not.
func IsSegmentFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case extMP4, extFLV:
		return true
	}
	return false
}

// ParseSegmentName reads a segment's file name (the base name; a path is
// reduced to it). ok is false when the name is not a recording's (see
// IsSegmentFile); a recording whose name has no time is ok with a zero
// Start.
func ParseSegmentName(name string) (n SegmentName, ok bool) {
	return parseSegmentNameIn(name, time.Local)
}

func parseSegmentNameIn(name string, loc *time.Location) (SegmentName, bool) {
	base := filepath.Base(name)
	if !IsSegmentFile(base) {
		return SegmentName{}, false
	}
	ext := filepath.Ext(base)
	n := SegmentName{Ext: strings.ToLower(ext)}
	stem := strings.TrimSuffix(base, ext)
	if len(stem) < len(nameTimeLayout) {
		return n, true
	}
	t, err := time.ParseInLocation(nameTimeLayout, stem[:len(nameTimeLayout)], loc)
	if err != nil {
		return n, true
	}
	n.Start = t
	// Anything after the time but a -N suffix (a user's " (copy)") keeps
	// the time and orders after the plain name, by CompareSegmentNames.
	if rest, found := strings.CutPrefix(stem[len(nameTimeLayout):], "-"); found {
		if seq, err := strconv.Atoi(rest); err == nil && seq > 0 && rest[0] != '+' {
			n.Seq = seq
		}
	}
	return n, true
}

// CompareSegmentNames orders segment files for playback, by base name
// only (so that every consumer agrees without touching the disk): names
// with a time by that time, then Seq ("X.mp4", "X-1.mp4", "X-2.mp4",
// "X-10.mp4"), then the name itself; names without a time after them, by
// name. It returns -1, 0 or +1 as a sorts before, with or after b.
func CompareSegmentNames(a, b string) int {
	a, b = filepath.Base(a), filepath.Base(b)
	na, _ := ParseSegmentName(a)
	nb, _ := ParseSegmentName(b)
	if za, zb := na.Start.IsZero(), nb.Start.IsZero(); za != zb {
		if za {
			return 1
		}
		return -1
	}
	if c := na.Start.Compare(nb.Start); c != 0 {
		return c
	}
	if c := cmp.Compare(na.Seq, nb.Seq); c != 0 {
		return c
	}
	// The same file in another container sorts by the name without its
	// extension first, so "X.flv" and "X.mp4" stay beside each other.
	sa, sb := strings.TrimSuffix(a, filepath.Ext(a)), strings.TrimSuffix(b, filepath.Ext(b))
	if c := strings.Compare(sa, sb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// seqName is the name tried for the i-th file of a segment whose template
// expanded to base (i = 0: base itself).
func seqName(base string, i int, ext string) string {
	if i == 0 {
		return base + ext
	}
	return fmt.Sprintf("%s-%d%s", base, i, ext)
}
