package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// noPatchFile drops WriteAt: an FLV segment closed through it keeps the
// placeholder onMetaData, as one cut by a crash after its last tag does.
type noPatchFile struct{ *os.File }

func (noPatchFile) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// recordedSegment records the 6 s test media as one segment and returns
// its bytes. placeholder keeps an FLV's onMetaData as written at open.
func recordedSegment(t *testing.T, format string, placeholder bool) []byte {
	t.Helper()
	in := mediaFile(t, "av")
	msgs := messages(readFLV(t, in))
	cfg := Config{Dir: t.TempDir(), Format: format}
	if placeholder {
		cfg.openFile = func(path string) (file, error) {
			f, err := openFileDefault(path)
			if err != nil {
				return nil, err
			}
			return noPatchFile{f.(*os.File)}, nil
		}
	}
	segs, _ := record(t, msgs, cfg)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	b, err := os.ReadFile(segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	recoverNow = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	recoverOld = recoverNow.Add(-time.Hour) // mtime of the files under test
)

// writeOld writes a file below dir with an old modification time.
func writeOld(t *testing.T, dir, rel string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, recoverOld, recoverOld); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeOpen writes a segment as a crashed run leaves it: old, with its
// open marker beside it.
func writeOpen(t *testing.T, dir, rel string, b []byte) string {
	t.Helper()
	p := writeOld(t, dir, rel, b)
	if err := createMarker(p, recoverOld); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkNoMarker fails if the segment at path still has its open marker.
func checkNoMarker(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(markerPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open marker of %s still there after recovery (%v)", filepath.Base(path), err)
	}
}

// checkClosedUntouched runs Recover over a copy of data placed as a closed
// (or hand-placed) recording: it must stay byte-identical, with its
// modification time, and be reported damaged exactly when damaged is set.
func checkClosedUntouched(t *testing.T, rel string, data []byte, damaged bool) {
	t.Helper()
	dir := t.TempDir()
	path := writeOld(t, dir, rel, data)
	for pass := range 2 {
		got, err := Recover(dir, recoverNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if damaged {
			want = RecoveredDamaged
		}
		checkRecovered(t, got, path, want)
		if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
			t.Fatalf("closed file changed by recovery pass %d: %d bytes, was %d", pass+1, len(b), len(data))
		}
		if fi, _ := os.Stat(path); !fi.ModTime().Equal(recoverOld) {
			t.Errorf("modification time %v, want %v kept", fi.ModTime(), recoverOld)
		}
	}
}

// fragment is one moof+mdat of a recorded fMP4 file.
type fragment struct {
	moof, moofSize, mdatSize int
	video                    int // video samples
}

// fragments lists the fragments of an fMP4 file (video is track 1).
func fragments(t *testing.T, b []byte) []fragment {
	var out []fragment
	for p := 0; p+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[p:]))
		switch string(b[p+4 : p+8]) {
		case "moof":
			f := fragment{moof: p, moofSize: size}
			for q := p + 8; q < p+size; q += int(binary.BigEndian.Uint32(b[q:])) {
				if string(b[q+4:q+8]) != "traf" {
					continue
				}
				tsize := int(binary.BigEndian.Uint32(b[q:]))
				var track uint32
				for r := q + 8; r < q+tsize; r += int(binary.BigEndian.Uint32(b[r:])) {
					switch string(b[r+4 : r+8]) {
					case "tfhd":
						track = binary.BigEndian.Uint32(b[r+12:])
					case "trun":
						if track == 1 {
							f.video += int(binary.BigEndian.Uint32(b[r+12:]))
						}
					}
				}
			}
			out = append(out, f)
		case "mdat":
			out[len(out)-1].mdatSize = size
		}
		p += size
	}
	if len(out) < 5 {
		t.Fatalf("%d fragments, want >= 5 for 6 s at 1 s fragments", len(out))
	}
	return out
}

// recoverOpen writes data at rel in a new directory as a segment left
// open by a crashed run, recovers the directory, checks that the segment
// was reported as action and lost its marker, and returns the directory,
// the segment's path and what it holds now: the repair step of each
// format's recovery test.
func recoverOpen(t *testing.T, rel string, data []byte, action string) (dir, path string, b []byte) {
	t.Helper()
	dir = t.TempDir()
	path = writeOpen(t, dir, rel, data)
	got, err := Recover(dir, recoverNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, got, path, action)
	checkNoMarker(t, path)
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the recovered segment: %v", err)
	}
	return dir, path, b
}

// checkRecoveredFile checks what holds for every repaired segment,
// whatever its format: its modification time kept (retention goes by it),
// frames video frames playable, and a second pass over dir finding nothing
// to do.
func checkRecoveredFile(t *testing.T, dir, path string, frames int) {
	t.Helper()
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(recoverOld) {
		t.Errorf("modification time %v, want %v kept", fi.ModTime(), recoverOld)
	}
	checkPlayable(t, path, frames)
	if again, _ := Recover(dir, recoverNow, time.Minute); len(again) != 0 {
		t.Errorf("second pass: %+v", again)
	}
}

// checkRecovered checks one Recover report for path.
func checkRecovered(t *testing.T, got []Recovered, path, action string) {
	t.Helper()
	if action == "" {
		if len(got) != 0 {
			t.Errorf("reports %+v, want none", got)
		}
		return
	}
	if len(got) != 1 || got[0].Path != path || got[0].Action != action || got[0].Detail == "" {
		t.Errorf("reports %+v, want one %q for %s", got, action, path)
	}
}

// checkPlayable decodes every stream of path as "ffmpeg -v error -i path
// -f null -" does, but into framecrc (one line per decoded frame, same
// decoders) so that one run gives both the errors (must be none) and the
// video frames decoded (must be wantFrames).
func checkPlayable(t *testing.T, path string, wantFrames int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v", "-map", "0:a?", "-f", "framecrc", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("decode errors: %v\n%s", err, stderr.String())
	}
	n := 0
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "0,") {
			n++
		}
	}
	if n != wantFrames {
		t.Errorf("%d video frames decoded, complete part holds %d", n, wantFrames)
	}
}

func TestRecoverFMP4(t *testing.T) {
	t.Parallel()
	full := recordedSegment(t, FormatFMP4, false)
	frags := fragments(t, full)
	k := 3
	f := frags[k]
	mdat := f.moof + f.moofSize
	last := frags[len(frags)-1]
	zeros := make([]byte, 4096)
	for _, tc := range []struct {
		name   string
		data   []byte
		want   int    // length after recovery
		action string // "" for untouched and not reported
	}{
		{"complete", full, len(full), ""},
		{"moof header", full[:f.moof+5], f.moof, RecoveredTruncated},
		{"mid-moof", full[:f.moof+f.moofSize/2], f.moof, RecoveredTruncated},
		{"moof without mdat", full[:mdat], f.moof, RecoveredTruncated},
		{"mdat header only", full[:mdat+8], f.moof, RecoveredTruncated},
		{"mid-mdat", full[:mdat+f.mdatSize/2], f.moof, RecoveredTruncated},
		{"last byte missing", full[:len(full)-1], last.moof, RecoveredTruncated},
		{"zero tail", append(full[:len(full):len(full)], zeros...), len(full), RecoveredTruncated},
		{"zeros over the last fragment", append(full[:last.moof:last.moof], zeros...), last.moof, RecoveredTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Closed, or placed by hand: reported when damaged, never changed.
			checkClosedUntouched(t, "live/cam1/seg.mp4", tc.data, tc.action != "")
			// Left open by a crashed run: repaired once.
			dir, path, b := recoverOpen(t, "live/cam1/seg.mp4", tc.data, tc.action)
			if !bytes.Equal(b, full[:tc.want]) {
				t.Fatalf("recovered file has %d bytes, want the first %d bytes of the segment", len(b), tc.want)
			}
			frames := 0
			for _, fr := range frags {
				if fr.moof < tc.want {
					frames += fr.video
				}
			}
			checkRecoveredFile(t, dir, path, frames)
		})
	}
}

// flvFrames counts the video frames (not sequence headers) among tags
// that end at or before end.
func flvFrames(tags []tagSpec, end int) int {
	n := 0
	for _, tg := range tags {
		if tg.kind == remux.KindVideo && int(tg.pos)+11+len(tg.body)+4 <= end {
			if p := parseVideo(tg.body); p.kind == pkFrame {
				n++
			}
		}
	}
	return n
}

func TestRecoverFLV(t *testing.T) {
	t.Parallel()
	clean := recordedSegment(t, FormatFLV, false)
	crashed := recordedSegment(t, FormatFLV, true)
	if len(clean) != len(crashed) || bytes.Equal(clean, crashed) {
		t.Fatal("the placeholder segment should differ from the clean one in its onMetaData only")
	}
	dir0 := t.TempDir()
	tags := readFLV(t, writeOld(t, dir0, "crashed.flv", crashed))
	// A video frame about 60% through.
	var tg tagSpec
	for _, x := range tags[len(tags)*6/10:] {
		if x.kind == remux.KindVideo {
			tg = x
			break
		}
	}
	pos, size := int(tg.pos), len(tg.body)
	// ffmpeg's own FLV (not ours): cut, but its onMetaData is left alone.
	foreign, err := os.ReadFile(mediaFile(t, "av"))
	if err != nil {
		t.Fatal(err)
	}
	ftags := readFLV(t, mediaFile(t, "av"))
	fpos := int(ftags[len(ftags)/2].pos)
	zeros := make([]byte, 4096)

	for _, tc := range []struct {
		name     string
		data     []byte
		want     []byte // file after recovery
		action   string
		repaired bool // onMetaData rewritten: check duration and index
	}{
		{"complete clean", clean, clean, "", false},
		{"complete placeholder", crashed, clean, RecoveredRepaired, true},
		{"mid-header", crashed[:pos+5], crashed[:pos], RecoveredTruncated, true},
		{"mid-body", crashed[:pos+11+size/2], crashed[:pos], RecoveredTruncated, true},
		{"mid-PreviousTagSize", crashed[:pos+11+size+2], crashed[:pos], RecoveredTruncated, true},
		{"zero tail", append(crashed[:len(crashed):len(crashed)], zeros...), clean, RecoveredTruncated, true},
		{"foreign FLV cut", foreign[:fpos+7], foreign[:fpos], RecoveredTruncated, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Closed, or placed by hand: a complete file (placeholder
			// onMetaData included: a segment without media) is not
			// reported, a cut one is reported damaged; neither is changed.
			checkClosedUntouched(t, "live/cam1/seg.flv", tc.data, tc.action == RecoveredTruncated)
			// Left open by a crashed run: repaired once.
			dir, path, b := recoverOpen(t, "live/cam1/seg.flv", tc.data, tc.action)
			if len(b) != len(tc.want) {
				t.Fatalf("recovered file has %d bytes, want %d", len(b), len(tc.want))
			}
			tags := readFLV(t, path)
			if tc.repaired {
				// Everything after the onMetaData is the crashed file's.
				metaEnd := int(tags[1].pos)
				if !bytes.Equal(b[metaEnd:], tc.want[metaEnd:]) || !bytes.Equal(b[:metaOffset+11], tc.want[:metaOffset+11]) {
					t.Error("bytes outside the onMetaData body changed")
				}
				if len(tc.want) == len(clean) && !bytes.Equal(b, clean) {
					t.Error("repaired onMetaData differs from the one a clean close writes")
				}
				checkFLVIndex(t, path, tags, len(b))
			} else if !bytes.Equal(b, tc.want) {
				t.Error("file content differs from the expected prefix")
			}
			checkRecoveredFile(t, dir, path, flvFrames(tags, len(b)))
		})
	}
}

// checkFLVIndex checks a repaired onMetaData: duration as ffprobe sees it,
// filesize, and a keyframes index pointing at keyframe tags in the file.
func checkFLVIndex(t *testing.T, path string, tags []tagSpec, size int) {
	t.Helper()
	var lastTS uint32
	for _, tg := range tags {
		if tg.kind.IsMedia() {
			lastTS = max(lastTS, tg.ts)
		}
	}
	meta := map[string]float64{}
	for _, p := range parseMetadata(tags[0].body) {
		meta[p.key] = p.num
	}
	if d := meta["duration"]; d < float64(lastTS)/1000 || d > float64(lastTS)/1000+0.1 {
		t.Errorf("onMetaData duration %v, last timestamp %d ms", d, lastTS)
	}
	if meta["filesize"] != float64(size) {
		t.Errorf("onMetaData filesize %v, file %d", meta["filesize"], size)
	}
	if d := ffprobe(t, path).duration(); math.Abs(d-float64(lastTS)/1000) > 0.15 {
		t.Errorf("ffprobe duration %.3f s, last timestamp %d ms", d, lastTS)
	}
	times, pos := flvKeyframes(t, tags[0].body)
	byPos := map[int64]tagSpec{}
	keys := 0
	for _, tg := range tags {
		byPos[tg.pos] = tg
		if p := parseVideo(tg.body); tg.kind == remux.KindVideo && p.kind == pkFrame && p.key {
			keys++
		}
	}
	if len(times) != keys || len(pos) != keys {
		t.Errorf("keyframes index: %d times, %d positions, file has %d keyframes", len(times), len(pos), keys)
	}
	for i := range min(len(times), len(pos)) {
		tg, ok := byPos[int64(pos[i])]
		if !ok || tg.kind != remux.KindVideo || !parseVideo(tg.body).key || math.Abs(float64(tg.ts)/1000-times[i]) > 0.001 {
			t.Errorf("keyframe %d (%v s at %v) is not a keyframe tag of the file", i, times[i], pos[i])
		}
	}
}

// Leftover temporaries, garbage, files too new, and a whole tree at once.
func TestRecoverOthers(t *testing.T) {
	t.Parallel()
	seg := recordedSegment(t, FormatFMP4, false)
	progressive := recordedSegment(t, FormatMP4, false)
	frags := fragments(t, seg)
	garbage := bytes.Repeat([]byte("not a media file, just garbage bytes\x00\x01\xfe"), 100)

	type file struct {
		name   string
		data   []byte
		open   bool      // its open marker beside it: left open by a crashed run
		mtime  time.Time // zero: recoverOld
		action string    // "" for not reported
		after  []byte    // content after recovery; nil: unchanged; empty: removed
	}
	cut := seg[:frags[2].moof+30]
	for _, tc := range []struct {
		name  string
		files []file
	}{
		{"stray tmp of a segment left open removed, segment kept", []file{
			{name: "live/cam1/a.mp4", data: seg, open: true},
			{name: "live/cam1/a.mp4.tmp", data: progressive[:len(progressive)/2], action: RecoveredRemovedTemp, after: []byte{}},
		}},
		{"tmp beside a closed segment left alone", []file{
			{name: "live/cam1/a.mp4", data: seg},
			{name: "live/cam1/a.mp4.tmp", data: progressive[:len(progressive)/2]},
		}},
		{"progressive mp4 complete", []file{{name: "a.mp4", data: progressive}}},
		{"garbage mp4 damaged and kept", []file{{name: "g.mp4", data: garbage, action: RecoveredDamaged}}},
		{"garbage flv damaged and kept", []file{{name: "g.flv", data: garbage, action: RecoveredDamaged}}},
		{"empty closed file damaged and kept", []file{{name: "e.flv", data: nil, action: RecoveredDamaged}}},
		{"ftyp and part of the moov only", []file{{name: "m.mp4", data: seg[:100], action: RecoveredDamaged}}},
		{"moov-last mp4 without its moov", []file{{name: "p.mp4",
			data: append(appendFtyp(nil, false), []byte("\x00\x00\x10\x00mdatxxxx")...), action: RecoveredDamaged}}},
		{"left open with nothing playable: removed", []file{
			{name: "live/cam1/e.mp4", open: true, action: RecoveredRemovedEmpty, after: []byte{}},
			{name: "live/cam1/m.mp4", data: seg[:100], open: true, action: RecoveredRemovedEmpty, after: []byte{}},
		}},
		{"other files ignored", []file{
			{name: "notes.txt", data: garbage},
			{name: "x.flv.tmp", data: garbage},
			{name: "index.json", data: []byte("{}")},
		}},
		{"recently modified skipped", []file{
			{name: "live/cam1/new.mp4", data: cut, open: true, mtime: recoverNow.Add(-30 * time.Second)},
			{name: "live/cam1/new.mp4.tmp", data: garbage, mtime: recoverNow.Add(-time.Second)},
		}},
		{"tree", []file{
			{name: "live/cam1/1.mp4", data: cut, open: true, action: RecoveredTruncated, after: seg[:frags[2].moof]},
			{name: "live/cam2/2025/2.mp4", data: seg},
			{name: "live/cam2/2025/3.mp4", data: cut, action: RecoveredDamaged},
			{name: "other/cam3/3.mp4", data: seg[:frags[4].moof+frags[4].moofSize+100], open: true, action: RecoveredTruncated, after: seg[:frags[4].moof]},
			{name: "other/cam3/3.mp4.tmp", data: garbage, action: RecoveredRemovedTemp, after: []byte{}},
			{name: "other/bad.mp4", data: garbage, action: RecoveredDamaged},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			want := map[string]string{}
			for _, f := range tc.files {
				p := writeOld(t, dir, f.name, f.data)
				if f.open {
					if err := createMarker(p, recoverOld); err != nil {
						t.Fatal(err)
					}
				}
				if !f.mtime.IsZero() {
					os.Chtimes(p, f.mtime, f.mtime)
				}
				if f.action != "" {
					want[p] = f.action
				}
			}
			got, err := Recover(dir, recoverNow, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got {
				if want[r.Path] != r.Action {
					t.Errorf("unexpected report %+v", r)
				}
				if r.Detail == "" {
					t.Errorf("report without detail: %+v", r)
				}
				delete(want, r.Path)
				t.Logf("%s: %s: %s", strings.TrimPrefix(r.Path, dir), r.Action, r.Detail)
			}
			for p, a := range want {
				t.Errorf("%s: no %q report", p, a)
			}
			for _, f := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(f.name))
				b, err := os.ReadFile(p)
				switch {
				case f.after != nil && len(f.after) == 0:
					if !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s: not removed (%v)", f.name, err)
					}
				case f.after != nil:
					if !bytes.Equal(b, f.after) {
						t.Errorf("%s: %d bytes after recovery, want %d", f.name, len(b), len(f.after))
					}
				default:
					if !bytes.Equal(b, f.data) {
						t.Errorf("%s: changed (%v)", f.name, err)
					}
				}
				_, merr := os.Stat(markerPath(p))
				if kept := f.open && !f.mtime.IsZero(); kept != (merr == nil) {
					t.Errorf("%s: open marker there: %v, want %v", f.name, merr == nil, kept)
				}
			}
			// Idempotent: the second start reports only the damaged
			// closed files again, and changes nothing.
			again, _ := Recover(dir, recoverNow, time.Minute)
			for _, r := range again {
				if r.Action != RecoveredDamaged {
					t.Errorf("second pass: %+v", r)
				}
			}
		})
	}
	if _, err := Recover(filepath.Join(t.TempDir(), "missing"), recoverNow, 0); err == nil {
		t.Error("no error for a missing directory")
	}
}

// The cases of the hardening report: a closed FLV with one damaged tag,
// with 40 bytes flipped near its start, and a segment without media are
// byte-identical after any number of starts; a marker left without its
// segment is removed silently.
func TestRecoverLeavesClosedFiles(t *testing.T) {
	t.Parallel()
	clean := recordedSegment(t, FormatFLV, false)
	tags := readFLV(t, writeOld(t, t.TempDir(), "x.flv", clean))
	var mid tagSpec
	for _, x := range tags[len(tags)/2:] {
		if x.kind == remux.KindVideo {
			mid = x
			break
		}
	}
	badTag := bytes.Clone(clean)
	badTag[mid.pos] = 0x3f // not a tag type
	binary.BigEndian.PutUint32(badTag[int(mid.pos)+11+len(mid.body):], 0)
	flipped := bytes.Clone(clean)
	for i := 20; i < 60; i++ {
		flipped[i] ^= 0xff
	}
	noMedia := clean[:tags[1].pos] // header and onMetaData: zero duration
	for _, tc := range []struct {
		name string
		data []byte
	}{{"damaged tag", badTag}, {"40 flipped bytes", flipped}, {"zero duration", noMedia}} {
		t.Run(tc.name, func(t *testing.T) {
			// The damage is inside the file: the cheap check of closed
			// files does not look for it, and nothing is reported.
			checkClosedUntouched(t, "live/cam1/seg.flv", tc.data, false)
		})
	}
	dir := t.TempDir()
	stale := filepath.Join(dir, "live", "cam1", "gone.flv")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	if err := createMarker(stale, recoverOld); err != nil {
		t.Fatal(err)
	}
	if got, err := Recover(dir, recoverNow, 0); err != nil || len(got) != 0 {
		t.Errorf("marker without its segment: %+v, %v", got, err)
	}
	checkNoMarker(t, stale)
}
