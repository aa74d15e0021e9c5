package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Recovered is one file Recover repaired, removed, found damaged or could
// not read.
type Recovered struct {
	Path   string
	Action string // one of the Recovered* actions
	Detail string
}

// Recover's actions. Complete files are not reported ("ok" is never
// returned): only what was changed, is damaged or could not be checked is.
const (
	// A segment left open by a crash ended in an incomplete box or tag and
	// was cut after the last complete fragment (moof+mdat) or FLV tag. For
	// FLV, the onMetaData is also rewritten as below, so that its duration
	// is the one of what is left.
	RecoveredTruncated = "truncated"
	// An FLV segment left open by a crash whose tags were all complete: its
	// placeholder onMetaData (duration 0, no keyframes) was rewritten in
	// place with the duration, the file size and the keyframes index, as a
	// clean close does.
	RecoveredRepaired = "repaired"
	// A NAME.mp4.tmp left by an interrupted progressive rewrite of a
	// segment left open was removed; the fragmented NAME.mp4 holds the
	// same media and stays.
	RecoveredRemovedTemp = "removed-temp"
	// A segment left open by a crash held nothing playable (empty, no FLV
	// tag, no complete moov): the crash came before its first media reached
	// the disk. It was removed.
	RecoveredRemovedEmpty = "removed-empty"
	// A closed recording (one tapedeck finished, or a file placed there by
	// hand) does not end where its structure says: it is reported and
	// left exactly as it is.
	RecoveredDamaged = "damaged"
	// A segment left open could not be read or repaired (an I/O error). It
	// is left alone with its marker, and tried again at the next start.
	RecoveredUnreadable = "unreadable"
)

// Message is the log message for r: what happened to the file, in words
// (the appliance logs one line per report with it).
func (r Recovered) Message() string {
	switch r.Action {
	case RecoveredDamaged:
		return "damaged recording left as is"
	case RecoveredUnreadable:
		return "recording left open by a crash could not be repaired"
	}
	return "recording recovered after a crash"
}

// Recover repairs the segments an earlier run left open, and reports the
// closed recordings that are damaged without changing them.
//
// A segment is left open when its marker (NAME.flv.open beside NAME.flv,
// see OpenMarkerSuffix)
// is still beside it: the recorder creates the marker durably when it
// creates the segment and removes it after the segment is closed and
// fsynced. Only such segments are repaired, once: for fMP4/MP4 files,
// walk top-level boxes (read only box headers, seeking) and truncate at
// the first incomplete box (a half-written moof/mdat); for FLV, walk tags
// (11-byte headers + PreviousTagSize), truncate after the last complete tag
// and rewrite the placeholder onMetaData with the duration of what is
// left; a NAME.tmp left by an interrupted mp4 finalisation is removed (the
// fragmented NAME stays); a segment holding nothing playable is removed.
// The marker is then removed, so the next start reports nothing.
//
// Every other recording is only checked, read-only and cheaply: an FLV
// must end in a complete tag (found through its last PreviousTagSize; a
// full walk only when that does not match), an MP4 must end with its last
// complete top-level box. A recording that does not is reported
// RecoveredDamaged and never rewritten: it may be a hand-placed file, or
// damage the user wants to see rather than have cut away. A closed FLV
// segment of zero duration (no media) is complete and not reported; damage
// inside an otherwise complete file is the DamageScanner's to find, in the
// background (see checkClosed, checkWhole).
//
// Details:
//   - A box or tag header that cannot be one (a non-printable box type, an
//     unknown tag type: what a power cut leaves when the file size was
//     extended but the last blocks were never written, as zeros) counts as
//     the first incomplete one.
//   - A complete moof whose mdat is missing or incomplete is cut too: the
//     file ends after the last complete moof+mdat pair.
//   - Truncated and repaired files keep their modification time, so
//     retention still sees their real age.
//   - Segments left open that were modified within skipNewerThan of now
//     are skipped, marker kept (another process may be writing them).
//   - A marker whose segment is gone (retention, a user) is removed
//     silently.
//
// Walks dir recursively, not following symbolic links below it. The error
// is only for dir itself being unreadable; per-file problems are reported
// as RecoveredUnreadable (segments left open) or RecoveredDamaged (closed
// recordings) and the walk goes on.
func Recover(dir string, now time.Time, skipNewerThan time.Duration) ([]Recovered, error) {
	return RecoverSkipping(dir, now, skipNewerThan, nil)
}

// RecoverSkipping is Recover that does not look at the closed recordings
// for which checked returns true (DamageScanner.Known: checked before, and
// unchanged since), so that a restart neither reads them nor reports their
// damage again. nil checked skips none.
func RecoverSkipping(dir string, now time.Time, skipNewerThan time.Duration, checked func(path string, info fs.FileInfo) bool) ([]Recovered, error) {
	type entry struct {
		path string
		d    fs.DirEntry
	}
	var (
		out        []Recovered
		errs       []error
		recordings []entry
		temps      []string
		open       = map[string]bool{} // segments with a marker
	)
	err := walkFiles(dir, func(path string, d fs.DirEntry) {
		switch {
		case isMarker(path):
			open[strings.TrimSuffix(path, OpenMarkerSuffix)] = true
		case strings.HasSuffix(strings.ToLower(path), ".mp4.tmp"):
			temps = append(temps, path)
		case isRecording(path):
			recordings = append(recordings, entry{path, d})
		}
	}, &errs)
	if err != nil {
		return nil, err
	}
	skipped := map[string]bool{}
	for _, e := range recordings {
		info, err := e.d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				out = append(out, Recovered{e.path, RecoveredUnreadable, err.Error()})
				skipped[e.path] = open[e.path]
			}
			continue
		}
		if !open[e.path] {
			if checked != nil && checked(e.path, info) {
				continue
			}
			if why, damaged := checkClosed(e.path, info); damaged {
				out = append(out, Recovered{e.path, RecoveredDamaged, why})
			}
			continue
		}
		if now.Sub(info.ModTime()) < skipNewerThan {
			skipped[e.path] = true
			continue
		}
		r, touched, retry := recoverFile(e.path, info)
		if touched {
			out = append(out, r)
		}
		if retry {
			skipped[e.path] = true
		}
	}
	for _, tmp := range temps {
		seg := tmp[:len(tmp)-len(".tmp")]
		if !open[seg] || skipped[seg] {
			continue // not ours to remove: only a segment left open has one
		}
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			out = append(out, Recovered{tmp, RecoveredUnreadable, "remove: " + err.Error()})
			skipped[seg] = true
			continue
		}
		out = append(out, Recovered{tmp, RecoveredRemovedTemp,
			"leftover of an interrupted progressive MP4 rewrite; " + filepath.Base(seg) + " keeps the fragmented recording"})
	}
	for seg := range open {
		if skipped[seg] {
			continue
		}
		if err := removeMarker(seg); err != nil {
			out = append(out, Recovered{markerPath(seg), RecoveredUnreadable, err.Error()})
		}
	}
	for _, e := range errs {
		var pe *fs.PathError
		p := ""
		if errors.As(e, &pe) {
			p = pe.Path
		}
		out = append(out, Recovered{p, RecoveredUnreadable, e.Error()})
	}
	return out, nil
}

// errNothingPlayable marks a file whose content holds no playable media,
// as opposed to one that could not be read.
var errNothingPlayable = errors.New("nothing playable")

// recoverFile repairs one segment left open. touched reports r; retry
// means the segment could not be read or written and keeps its marker.
func recoverFile(path string, info fs.FileInfo) (r Recovered, touched, retry bool) {
	unreadable := func(format string, a ...any) (Recovered, bool, bool) {
		return Recovered{path, RecoveredUnreadable, fmt.Sprintf(format, a...)}, true, true
	}
	// Checked read-only first: a complete file is never opened for writing.
	f, err := os.Open(path)
	if err != nil {
		return unreadable("%v", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		info = fi
	}
	size := info.Size()
	var (
		cut    int64
		why    string
		meta   []byte // FLV: repaired onMetaData body to write at metaAt
		metaAt int64
	)
	switch {
	case size == 0:
		err = fmt.Errorf("empty file: %w", errNothingPlayable)
	case strings.EqualFold(filepath.Ext(path), ".flv"):
		var sc flvScan
		if err = sc.scan(f, size); err == nil {
			cut, why = sc.end, sc.why
			if sc.media == 0 {
				err = fmt.Errorf("no complete audio or video tag: %w", errNothingPlayable)
			}
			meta, metaAt = sc.repairMeta(cut)
		}
	default:
		cut, why, err = scanMP4(f, size)
	}
	if err != nil {
		if !errors.Is(err, errNothingPlayable) {
			return unreadable("%v", err)
		}
		f.Close()
		if rerr := os.Remove(path); rerr != nil {
			return unreadable("remove (%v): %v", err, rerr)
		}
		return Recovered{path, RecoveredRemovedEmpty, fmt.Sprintf("%d bytes, %v", size, err)}, true, false
	}
	f.Close()
	if cut == size && meta == nil {
		return Recovered{}, false, false
	}

	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return unreadable("cannot repair (%s): %v", why, err)
	}
	defer w.Close()
	if cut < size {
		if err := w.Truncate(cut); err != nil {
			return unreadable("truncate (%s): %v", why, err)
		}
	}
	if meta != nil {
		if _, err := w.WriteAt(meta, metaAt); err != nil {
			return unreadable("rewrite onMetaData: %v", err)
		}
	}
	if err := w.Sync(); err != nil {
		return unreadable("sync: %v", err)
	}
	w.Close()
	os.Chtimes(path, time.Time{}, info.ModTime()) // keep its age for retention
	r = Recovered{Path: path}
	if cut < size {
		r.Action = RecoveredTruncated
		r.Detail = fmt.Sprintf("cut from %d to %d bytes: %s", size, cut, why)
		if meta != nil {
			r.Detail += "; onMetaData rewritten with duration and keyframes"
		}
	} else {
		r.Action = RecoveredRepaired
		r.Detail = "placeholder onMetaData rewritten with duration and keyframes"
	}
	return r, true, false
}

// mp4TopLevel are the box types a file may start with.
var mp4TopLevel = map[string]bool{
	"ftyp": true, "styp": true, "moov": true, "mdat": true, "free": true, "skip": true,
	"wide": true, "pdin": true, "sidx": true, "uuid": true, "meta": true,
}

func printable4(b []byte) bool {
	for _, c := range b[:4] {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// scanMP4 walks the top-level boxes of an MP4 file, reading only their
// headers. It returns where the playable part ends (size when the file is
// complete) and why it ends there, or an error when nothing is playable.
func scanMP4(r io.ReaderAt, size int64) (end int64, why string, err error) {
	var h [16]byte
	p := int64(0)
	moof := int64(-1) // offset of a complete moof still waiting for its mdat
	moov := false
	for p < size {
		if size-p < 8 {
			why = fmt.Sprintf("incomplete box header at %d", p)
			break
		}
		if _, err := r.ReadAt(h[:8], p); err != nil {
			return 0, "", err
		}
		typ := string(h[4:8])
		if !printable4(h[4:8]) || (p == 0 && !mp4TopLevel[typ]) {
			if p == 0 {
				return 0, "", fmt.Errorf("not an MP4 file: %w", errNothingPlayable)
			}
			why = fmt.Sprintf("no valid box at %d", p)
			break
		}
		n, hl := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch n {
		case 0: // to the end of the file
			n = size - p
		case 1:
			if size-p < 16 {
				why = fmt.Sprintf("incomplete %s box header at %d", typ, p)
				break
			}
			if _, err := r.ReadAt(h[8:16], p+8); err != nil {
				return 0, "", err
			}
			n, hl = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if why != "" {
			break
		}
		if n < hl {
			why = fmt.Sprintf("invalid %s box size %d at %d", typ, n, p)
			break
		}
		if n > size-p {
			why = fmt.Sprintf("incomplete %s box at %d (%d of %d bytes)", typ, p, size-p, n)
			break
		}
		switch typ {
		case "moof":
			moof = p
		case "mdat":
			moof = -1
		case "moov":
			moov = true
		}
		p += n
	}
	end = p
	if moof >= 0 {
		end = moof
		if why == "" {
			why = fmt.Sprintf("moof at %d has no media data", moof)
		} else {
			why += fmt.Sprintf("; its fragment starts at %d", moof)
		}
	}
	if !moov {
		if why != "" {
			why = " (" + why + ")"
		}
		return 0, "", fmt.Errorf("no complete moov box%s: %w", why, errNothingPlayable)
	}
	return end, why, nil
}

// flvScan walks an FLV file's tags, reading their headers, and collects
// what a repaired onMetaData needs.
type flvScan struct {
	r    io.ReaderAt
	end  int64 // end of the last complete tag
	why  string
	meta struct {
		ok   bool // first tag is our placeholder onMetaData
		pos  int64
		body []byte
	}
	last, delta [2]int64
	seen        [2]bool
	keys        []kfEntry
	media       int // complete audio and video tags
}

func (s *flvScan) scan(r io.ReaderAt, size int64) error {
	s.r = r
	off, err := flvDataStart(r, size)
	if err != nil {
		return err
	}
	p := off
	var t [11 + 32]byte
	first := true
	for p < size {
		if size-p < 11 {
			s.why = fmt.Sprintf("incomplete tag header at %d", p)
			break
		}
		n, err := r.ReadAt(t[:], p)
		if n < 11 {
			return err
		}
		kind := t[0]
		dsize := int64(t[1])<<16 | int64(t[2])<<8 | int64(t[3])
		ts := int64(uint32(t[4])<<16 | uint32(t[5])<<8 | uint32(t[6]) | uint32(t[7])<<24)
		if kind&0xC0 != 0 || (kind&0x1F != 8 && kind&0x1F != 9 && kind&0x1F != 18) {
			s.why = fmt.Sprintf("no valid tag at %d", p)
			break
		}
		end := p + 11 + dsize + 4
		if end > size {
			s.why = fmt.Sprintf("incomplete tag at %d (%d of %d bytes)", p, size-p, end-p)
			break
		}
		var prev [4]byte
		if _, err := r.ReadAt(prev[:], end-4); err != nil {
			return err
		}
		// PreviousTagSize zero where it cannot be: the tag's last block was
		// never written (zeros). Other mismatches are tolerated (muxers of
		// other tools get it wrong).
		if binary.BigEndian.Uint32(prev[:]) == 0 {
			s.why = fmt.Sprintf("tag at %d ends in zeros", p)
			break
		}
		if first && kind&0x1F == 18 {
			s.readMeta(p, dsize)
		}
		first = false
		if k := kind & 0x1F; k == 8 || k == 9 {
			s.media++
			tr := trackAudio
			if k == 9 {
				tr = trackVideo
				body := t[11:min(n, 11+int(dsize))]
				if pl := parseVideo(body); pl.kind == pkFrame && pl.key {
					s.keys = append(s.keys, kfEntry{ts, p})
				}
			}
			if s.seen[tr] && ts > s.last[tr] {
				s.delta[tr] = ts - s.last[tr]
			}
			s.last[tr], s.seen[tr] = ts, true
		}
		p = end
	}
	s.end = p
	return nil
}

// readMeta reads the first script tag and keeps it if it is the
// onMetaData of a segment this package wrote: the placeholder written at
// open, or (a crash between the close's patch and the marker's removal)
// the final one, rebuilt all the same so that it matches what is left.
func (s *flvScan) readMeta(pos, dsize int64) {
	if dsize > 1<<20 {
		return
	}
	b := make([]byte, dsize)
	if _, err := s.r.ReadAt(b, pos+11); err != nil {
		return
	}
	var creator string
	dur := -1.0
	for _, p := range parseMetadata(b) {
		switch p.key {
		case "metadatacreator":
			creator = p.s
		case "duration":
			dur = p.num
		}
	}
	if creator == "tapedeck" && dur >= 0 {
		s.meta.ok, s.meta.pos, s.meta.body = true, pos, b
	}
}

// flvDataStart checks the FLV file header and returns where the first
// tag starts (after PreviousTagSize0).
func flvDataStart(r io.ReaderAt, size int64) (int64, error) {
	var h [9]byte
	if size < 9 {
		return 0, fmt.Errorf("not an FLV file: %w", errNothingPlayable)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, err
	}
	if string(h[:3]) != "FLV" {
		return 0, fmt.Errorf("not an FLV file: %w", errNothingPlayable)
	}
	off := int64(binary.BigEndian.Uint32(h[5:9]))
	if off < 9 || off+4 > size {
		return 0, fmt.Errorf("not an FLV file (data offset %d): %w", off, errNothingPlayable)
	}
	return off + 4, nil
}

// repairMeta returns the rebuilt onMetaData body for a file ending at end,
// and where to write it; nil when there is nothing to repair or it does
// not fit the reserved room.
func (s *flvScan) repairMeta(end int64) ([]byte, int64) {
	if !s.meta.ok || s.meta.pos+11+int64(len(s.meta.body))+4 > end {
		return nil, 0
	}
	w := &flvWriter{propIdx: make(map[string]int), kfStride: 1, metaLen: len(s.meta.body)}
	for _, p := range parseMetadata(s.meta.body) {
		if _, dup := w.propIdx[p.key]; !dup {
			w.addProp(p)
		}
	}
	w.kfCap = (w.metaLen - 3 - padOverhead - len(w.encodeMeta(nil))) / 18
	if w.kfCap < 0 {
		return nil, 0
	}
	if w.kfCap > 0 {
		for _, k := range s.keys {
			w.addKeyframe(k.rel, k.pos)
		}
	}
	var dur, last int64
	for t := range 2 {
		if s.seen[t] {
			dur = max(dur, s.last[t]+s.delta[t])
			last = max(last, s.last[t])
		}
	}
	w.setNum("duration", float64(dur)/1000)
	w.setNum("filesize", float64(end))
	w.setNum("lasttimestamp", float64(last)/1000)
	w.setNum("lastkeyframetimestamp", float64(w.lastKeyRel)/1000)
	w.setNum("lastkeyframelocation", float64(w.lastKeyPos))
	body := w.metaBody()
	if len(body) != len(s.meta.body) || bytes.Equal(body, s.meta.body) {
		return nil, 0 // does not fit, or already right
	}
	return body, s.meta.pos + 11
}
