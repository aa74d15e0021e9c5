package remux

import (
	"encoding/binary"
	"io"
	"slices"
)

// MP4Reader reads progressive and fragmented MP4 (H.264, H.265, AV1, VP9;
// AAC, Opus, FLAC, AC-3, E-AC-3: mp4entry.go) as FLV or Enhanced RTMP tag
// bodies, through an io.ReaderAt. A progressive file's sample tables
// are held (24 B per sample); a fragmented file is indexed by fragment at
// open (one entry per moof) and each fragment's sample list is loaded when
// played, so memory is bounded by one fragment. Samples are read one by
// one with ReadAt.
type MP4Reader struct {
	r    io.ReaderAt
	size int64
	pool *Pool

	info   FileInfo
	tracks []*mp4RTrack // video first
	hdrs   []*Message
	shift  int64 // ms added to every timestamp so edit lists never go negative

	chunks []mp4Chunk
	prog   []mp4Samp // progressive samples (chunk with off < 0)
	cur    []mp4Samp
	ci     int
	next   int // next chunk to load
	moof   []byte

	// scan is where the fragment index stopped (the first top-level box
	// not indexed: cut short or past the end), base each track's decode
	// time there; Grow goes on from them.
	scan int64
	base []uint64
}

type mp4RTrack struct {
	id        uint32
	kind      Kind
	codec     FourCC
	timescale uint32
	config    []byte
	elstMs    int64
	trex      [3]uint32 // default duration, size, flags
	width     int
	height    int
	// mt is the Enhanced RTMP multitrack track id the track plays as: 0
	// for the first video and the first audio trak (ordinary tags), 1, 2,
	// … for the further traks of a kind, in file order (multitrack.go).
	mt uint8
}

// mp4Chunk is the moov's sample tables (off < 0) or one moof.
type mp4Chunk struct {
	off   int64
	start uint32   // ms of its first sample
	base  []uint64 // decode time per track at its start (for moofs without tfdt)
}

type mp4Samp struct {
	off  int64
	size uint32
	ts   uint32
	cts  int32
	trk  uint8
	key  bool
}

// frameMs is the duration assumed for a file's last frame.
const frameMs = 40

const (
	maxMoovBytes      = 64 << 20
	maxMoofBytes      = 16 << 20
	maxSamplesPerFrag = 1 << 18
	maxProgSamples    = 8 << 20
	maxSampleBytes    = 16<<20 - 16
	maxTopLevelBoxes  = 1 << 20
)

// OpenMP4 indexes an MP4 file: its moov and, for a fragmented file, every
// moof. A fragment cut short (a file still being written or truncated)
// ends the index.
func OpenMP4(r io.ReaderAt, size int64, pool *Pool) (*MP4Reader, error) {
	f := &MP4Reader{r: r, size: size, pool: pool}
	var moov []byte
	var moofs []int64
	var hb [16]byte
	off := int64(0)
	for n := 0; off+8 <= size && n < maxTopLevelBoxes; n++ {
		bsize, typ, hl, err := boxHeaderAt(r, off, size, hb[:])
		if err != nil {
			if n == 0 {
				return nil, err
			}
			break
		}
		end := off + bsize
		switch typ {
		case "moov":
			if moov != nil {
				return nil, corrupt("two moov boxes")
			}
			if end > size || bsize-hl > maxMoovBytes {
				return nil, corrupt("moov of %d bytes", bsize)
			}
			moov = make([]byte, bsize-hl)
			if err := readFull(r, moov, off+hl); err != nil {
				return nil, err
			}
		case "moof":
			if end > size {
				break
			}
			moofs = append(moofs, off)
		}
		if n == 0 && typ != "ftyp" && typ != "moov" && typ != "styp" && typ != "free" && typ != "skip" && typ != "mdat" && typ != "wide" {
			return nil, corrupt("not an MP4 file (first box %q)", typ)
		}
		if end > size {
			break
		}
		off = end
	}
	if moov == nil {
		return nil, corrupt("no moov box")
	}
	if err := f.parseMoov(moov); err != nil {
		return nil, err
	}
	if len(f.tracks) == 0 {
		return nil, corrupt("no H.264/H.265/AV1/VP9 video or AAC/Opus/FLAC/AC-3/E-AC-3 audio track")
	}
	for _, t := range f.tracks {
		f.shift = max(f.shift, t.elstMs)
	}
	// The progressive samples need the shift: fix their timestamps now.
	var end uint32
	if len(f.prog) > 0 {
		for i := range f.prog {
			f.prog[i].ts = f.msOf(f.prog[i].ts, f.tracks[f.prog[i].trk])
		}
		sortSamples(f.prog)
		f.chunks = append(f.chunks, mp4Chunk{off: -1, start: f.prog[0].ts})
		end = f.prog[len(f.prog)-1].ts
	}
	base := make([]uint64, len(f.tracks))
	f.scan = off
	for _, off := range moofs {
		samples, next, err := f.parseMoof(off, base)
		if err != nil {
			f.scan = off
			break // a damaged fragment ends the file (or, growing, is not all there yet)
		}
		if len(samples) == 0 {
			base = next
			continue
		}
		f.chunks = append(f.chunks, mp4Chunk{off: off, start: samples[0].ts, base: base})
		end = max(end, samples[len(samples)-1].ts)
		base = next
	}
	f.base = base
	if len(f.chunks) == 0 {
		return nil, corrupt("no samples")
	}
	f.info.Last, f.info.Duration = end, end+frameMs
	for _, t := range f.tracks {
		m := f.pool.Get(len(t.config) + 12)
		if t.mt != 0 {
			m.Payload = append(appendOneTrackHeader(m.Payload[:0], t.kind, t.codec, t.mt, true, true, 0), t.config...)
		} else if t.kind == KindVideo {
			m.Payload = append(videoHeader(m.Payload[:0], t.codec, true, true, 0), t.config...)
			f.info.VideoCodec = t.codec
			f.info.Width, f.info.Height = t.width, t.height
		} else {
			m.Payload = append(audioHeader(m.Payload[:0], t.codec, true), t.config...)
			f.info.AudioCodec = t.codec
		}
		m.Kind = t.kind
		m.Parse()
		f.hdrs = append(f.hdrs, m)
	}
	f.load(0)
	return f, nil
}

// msOf converts a decode time held in ts (track units, as stored while
// parsing, truncated to 32 bits of ms) — here ts is already ms without the
// edit shift; it applies the edit list and the global shift.
func (f *MP4Reader) msOf(ms uint32, t *mp4RTrack) uint32 {
	v := int64(ms) - t.elstMs + f.shift
	if v < 0 {
		return 0
	}
	return uint32(v)
}

func sortSamples(s []mp4Samp) {
	slices.SortStableFunc(s, func(a, b mp4Samp) int {
		if a.ts != b.ts {
			if a.ts < b.ts {
				return -1
			}
			return 1
		}
		if a.off < b.off {
			return -1
		}
		if a.off > b.off {
			return 1
		}
		return 0
	})
}

// boxHeaderAt reads a box header at off: size (to the end of the file for
// size 0), type, header length.
func boxHeaderAt(r io.ReaderAt, off, fileSize int64, b []byte) (int64, string, int64, error) {
	if err := readFull(r, b[:8], off); err != nil {
		return 0, "", 0, err
	}
	size := int64(binary.BigEndian.Uint32(b))
	typ := string(b[4:8])
	hl := int64(8)
	switch size {
	case 0:
		size = fileSize - off
	case 1:
		if err := readFull(r, b[8:16], off+8); err != nil {
			return 0, "", 0, err
		}
		size = int64(binary.BigEndian.Uint64(b[8:]))
		hl = 16
	}
	if size < hl {
		return 0, "", 0, corrupt("box %q of size %d", typ, size)
	}
	return size, typ, hl, nil
}

// box is a parsed child box.
type box struct {
	typ  string
	body []byte
}

// children splits b into boxes; a malformed tail is ignored.
func children(b []byte) []box {
	var out []box
	for len(b) >= 8 {
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hl := uint64(8)
		if size == 1 {
			if len(b) < 16 {
				break
			}
			size, hl = binary.BigEndian.Uint64(b[8:]), 16
		} else if size == 0 {
			size = uint64(len(b))
		}
		if size < hl || size > uint64(len(b)) {
			break
		}
		out = append(out, box{typ, b[hl:size]})
		b = b[size:]
	}
	return out
}

func child(b []byte, typ string) []byte {
	for _, c := range children(b) {
		if c.typ == typ {
			return c.body
		}
	}
	return nil
}

func path(b []byte, typs ...string) []byte {
	for _, t := range typs {
		if b = child(b, t); b == nil {
			return nil
		}
	}
	return b
}

func u32(b []byte, i int) uint32 {
	if i < 0 || i+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[i:])
}

func u64(b []byte, i int) uint64 {
	if i < 0 || i+8 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint64(b[i:])
}

// flagged reads the 32-bit field at *p into *v and steps *p past it if bit
// is set in flags, and reports whether it was: tfhd and trun carry each of
// their optional fields only when its flag is set, in a fixed order, so
// the offset of one depends on the flags before it.
func flagged(b []byte, p *int, flags, bit uint32, v *uint32) bool {
	if flags&bit == 0 {
		return false
	}
	*v = u32(b, *p)
	*p += 4
	return true
}

// stbl tables of one track, parsed from the moov.
type stblTables struct {
	stts, ctts, stss, stsz, stsc, stco []byte
	co64                               bool
	cttsV1                             bool
}

func (f *MP4Reader) parseMoov(moov []byte) error {
	mvhd := child(moov, "mvhd")
	movieScale := u32(mvhd, 12)
	if len(mvhd) > 0 && mvhd[0] == 1 {
		movieScale = u32(mvhd, 20)
	}
	trex := map[uint32][3]uint32{}
	for _, c := range children(child(moov, "mvex")) {
		if c.typ == "trex" && len(c.body) >= 24 {
			trex[u32(c.body, 4)] = [3]uint32{u32(c.body, 12), u32(c.body, 16), u32(c.body, 20)}
		}
	}
	// The first trak of each kind plays as the default track, video
	// first; the others follow as multitrack tracks.
	var main [2]*mp4RTrack
	var mainTabs [2]stblTables
	var extras []*mp4RTrack
	var extraTabs []stblTables
	var ids [2]uint8
	for _, c := range children(moov) {
		if c.typ != "trak" {
			continue
		}
		t, tabs, ok := parseTrak(c.body, movieScale)
		if !ok {
			continue
		}
		t.trex = trex[t.id]
		k := 0
		if t.kind == KindAudio {
			k = 1
		}
		switch {
		case main[k] == nil:
			main[k], mainTabs[k] = t, tabs
		case len(extras) < maxMultitrackTraks:
			ids[k]++
			t.mt = ids[k]
			extras, extraTabs = append(extras, t), append(extraTabs, tabs)
		}
	}
	var tabs []stblTables
	for k, t := range main {
		if t != nil {
			f.tracks, tabs = append(f.tracks, t), append(tabs, mainTabs[k])
		}
	}
	f.tracks, tabs = append(f.tracks, extras...), append(tabs, extraTabs...)
	for i, t := range f.tracks {
		if err := f.progSamples(uint8(i), t, &tabs[i]); err != nil {
			return err
		}
	}
	return nil
}

func parseTrak(trak []byte, movieScale uint32) (*mp4RTrack, stblTables, bool) {
	var tabs stblTables
	tkhd := child(trak, "tkhd")
	t := &mp4RTrack{}
	if len(tkhd) > 0 && tkhd[0] == 1 {
		t.id = u32(tkhd, 20)
	} else {
		t.id = u32(tkhd, 12)
	}
	if len(tkhd) >= 8 {
		t.width = int(u32(tkhd, len(tkhd)-8) >> 16)
		t.height = int(u32(tkhd, len(tkhd)-4) >> 16)
	}
	mdia := child(trak, "mdia")
	mdhd := child(mdia, "mdhd")
	if len(mdhd) > 0 && mdhd[0] == 1 {
		t.timescale = u32(mdhd, 20)
	} else {
		t.timescale = u32(mdhd, 12)
	}
	if t.timescale == 0 {
		return nil, tabs, false
	}
	hdlr := child(mdia, "hdlr")
	if len(hdlr) < 12 {
		return nil, tabs, false
	}
	stbl := path(mdia, "minf", "stbl")
	stsd := child(stbl, "stsd")
	if len(stsd) < 8 {
		return nil, tabs, false
	}
	entries := children(stsd[8:])
	if len(entries) == 0 {
		return nil, tabs, false
	}
	e := entries[0]
	switch string(hdlr[8:12]) {
	case "vide":
		t.kind = KindVideo
		if len(e.body) < 78 {
			return nil, tabs, false
		}
		if t.width == 0 {
			t.width, t.height = int(binary.BigEndian.Uint16(e.body[24:])), int(binary.BigEndian.Uint16(e.body[26:]))
		}
		var ok bool
		if t.codec, t.config, ok = videoEntry(e.typ, e.body[78:]); !ok {
			return nil, tabs, false
		}
	case "soun":
		t.kind = KindAudio
		var ok bool
		if t.codec, t.config, ok = audioEntry(e.typ, e.body); !ok {
			return nil, tabs, false
		}
	default:
		return nil, tabs, false
	}
	t.config = append([]byte(nil), t.config...)
	// Edit list: an initial empty edit delays the track, a media_time skips
	// into it (B-frame delay, AAC priming).
	if elst := path(trak, "edts", "elst"); len(elst) >= 8 && movieScale != 0 {
		v1 := elst[0] == 1
		n := int(u32(elst, 4))
		p := 8
		var delay int64
		for i := 0; i < n && i < 4; i++ {
			var dur uint64
			var mt int64
			if v1 {
				if p+20 > len(elst) {
					break
				}
				dur, mt = u64(elst, p), int64(u64(elst, p+8))
				p += 20
			} else {
				if p+12 > len(elst) {
					break
				}
				dur, mt = uint64(u32(elst, p)), int64(int32(u32(elst, p+4)))
				p += 12
			}
			if mt == -1 {
				delay += int64(dur * 1000 / uint64(movieScale))
				continue
			}
			t.elstMs = mt*1000/int64(t.timescale) - delay
			break
		}
		t.elstMs = max(min(t.elstMs, 10_000), -10_000)
	}
	for _, c := range children(stbl) {
		switch c.typ {
		case "stts":
			tabs.stts = c.body
		case "ctts":
			tabs.ctts = c.body
			tabs.cttsV1 = len(c.body) > 0 && c.body[0] == 1
		case "stss":
			tabs.stss = c.body
		case "stsz":
			tabs.stsz = c.body
		case "stsc":
			tabs.stsc = c.body
		case "stco":
			tabs.stco = c.body
		case "co64":
			tabs.stco, tabs.co64 = c.body, true
		}
	}
	return t, tabs, true
}

// aacConfig digs the AudioSpecificConfig out of an esds box.
func aacConfig(esds []byte) []byte {
	if len(esds) < 4 {
		return nil
	}
	b := esds[4:]
	desc := func(b []byte) (byte, []byte, []byte) {
		if len(b) < 2 {
			return 0, nil, nil
		}
		tag := b[0]
		n, i := 0, 1
		for ; i < 5 && i < len(b); i++ {
			n = n<<7 | int(b[i]&0x7f)
			if b[i]&0x80 == 0 {
				i++
				break
			}
		}
		if i > len(b) || n > len(b)-i {
			return 0, nil, nil
		}
		return tag, b[i : i+n], b[i+n:]
	}
	tag, es, _ := desc(b)
	if tag != 3 || len(es) < 3 {
		return nil
	}
	flags := es[2]
	es = es[3:]
	if flags&0x80 != 0 {
		if len(es) < 2 {
			return nil
		}
		es = es[2:]
	}
	if flags&0x40 != 0 {
		if len(es) < 1 || int(es[0]) >= len(es) {
			return nil
		}
		es = es[1+int(es[0]):]
	}
	if flags&0x20 != 0 {
		if len(es) < 2 {
			return nil
		}
		es = es[2:]
	}
	tag, dc, _ := desc(es)
	if tag != 4 || len(dc) < 13 {
		return nil
	}
	switch dc[0] {
	case 0x40, 0x66, 0x67, 0x68:
	default:
		return nil
	}
	tag, asc, _ := desc(dc[13:])
	if tag != 5 {
		return nil
	}
	return asc
}

// progSamples adds a track's samples from its moov tables to f.prog, with
// ts holding milliseconds before the edit shift.
func (f *MP4Reader) progSamples(trk uint8, t *mp4RTrack, tb *stblTables) error {
	if len(tb.stsz) < 12 || len(tb.stts) < 8 || len(tb.stsc) < 8 || len(tb.stco) < 8 {
		return nil // no samples (a fragmented file's empty tables)
	}
	fixed := u32(tb.stsz, 4)
	count := int(u32(tb.stsz, 8))
	if count == 0 {
		return nil
	}
	if fixed == 0 && count > (len(tb.stsz)-12)/4 {
		return corrupt("stsz of %d samples in %d bytes", count, len(tb.stsz))
	}
	if count > maxProgSamples || int64(count) > f.size {
		return corrupt("%d samples", count)
	}
	// Chunk offsets.
	nChunks := int(u32(tb.stco, 4))
	w := 4
	if tb.co64 {
		w = 8
	}
	if nChunks > (len(tb.stco)-8)/w {
		return corrupt("stco of %d chunks in %d bytes", nChunks, len(tb.stco))
	}
	chunkOff := func(i int) int64 {
		if tb.co64 {
			return int64(u64(tb.stco, 8+8*i))
		}
		return int64(u32(tb.stco, 8+4*i))
	}
	nStsc := int(u32(tb.stsc, 4))
	if nStsc > (len(tb.stsc)-8)/12 {
		return corrupt("stsc")
	}
	nStts := int(u32(tb.stts, 4))
	if nStts > (len(tb.stts)-8)/8 {
		return corrupt("stts")
	}
	nCtts := 0
	if len(tb.ctts) >= 8 {
		nCtts = min(int(u32(tb.ctts, 4)), (len(tb.ctts)-8)/8)
	}
	var sync map[uint32]bool
	if t.kind == KindVideo && len(tb.stss) >= 8 {
		n := min(int(u32(tb.stss, 4)), (len(tb.stss)-8)/4)
		sync = make(map[uint32]bool, n)
		for i := 0; i < n; i++ {
			sync[u32(tb.stss, 8+4*i)] = true
		}
	}
	start := len(f.prog)
	f.prog = slices.Grow(f.prog, count)
	// Walk chunks via stsc.
	sample := 0
	var dts uint64
	sttsI, sttsLeft := 0, uint32(0)
	var sttsDelta uint32
	cttsI, cttsLeft := 0, uint32(0)
	var cttsOff int32
	for e := 0; e < nStsc && sample < count; e++ {
		first := int(u32(tb.stsc, 8+12*e)) - 1
		per := int(u32(tb.stsc, 12+12*e))
		last := nChunks
		if e+1 < nStsc {
			last = min(int(u32(tb.stsc, 8+12*(e+1)))-1, nChunks)
		}
		if first < 0 || per <= 0 {
			return corrupt("stsc entry")
		}
		for c := first; c < last && sample < count; c++ {
			off := chunkOff(c)
			for k := 0; k < per && sample < count; k++ {
				size := fixed
				if size == 0 {
					size = u32(tb.stsz, 12+4*sample)
				}
				for sttsLeft == 0 && sttsI < nStts {
					sttsLeft, sttsDelta = u32(tb.stts, 8+8*sttsI), u32(tb.stts, 12+8*sttsI)
					sttsI++
				}
				for cttsLeft == 0 && cttsI < nCtts {
					cttsLeft, cttsOff = u32(tb.ctts, 8+8*cttsI), int32(u32(tb.ctts, 12+8*cttsI))
					cttsI++
				}
				if off < 0 || off+int64(size) > f.size || size > maxSampleBytes {
					// The file ends (or the table is wrong): keep what fits.
					sample = count
					break
				}
				key := t.kind == KindAudio || sync == nil || sync[uint32(sample+1)]
				cts := int32(0)
				if cttsLeft > 0 {
					cts = int32(int64(cttsOff) * 1000 / int64(t.timescale))
					cttsLeft--
				}
				f.prog = append(f.prog, mp4Samp{off: off, size: size, ts: uint32(dts * 1000 / uint64(t.timescale)), cts: cts, trk: trk, key: key})
				if sttsLeft > 0 {
					dts += uint64(sttsDelta)
					sttsLeft--
				}
				off += int64(size)
				sample++
			}
		}
	}
	_ = start
	return nil
}

// parseMoof reads the moof at off and returns its samples sorted by time,
// and each track's decode time after it.
func (f *MP4Reader) parseMoof(off int64, base []uint64) ([]mp4Samp, []uint64, error) {
	var hb [16]byte
	bsize, typ, hl, err := boxHeaderAt(f.r, off, f.size, hb[:])
	if err != nil {
		return nil, nil, err
	}
	if typ != "moof" || bsize-hl > maxMoofBytes || off+bsize > f.size {
		return nil, nil, corrupt("moof at %d", off)
	}
	if cap(f.moof) < int(bsize-hl) {
		f.moof = make([]byte, bsize-hl)
	}
	body := f.moof[:bsize-hl]
	if err := readFull(f.r, body, off+hl); err != nil {
		return nil, nil, err
	}
	next := slices.Clone(base)
	var out []mp4Samp
	dataEnd := off // end of the previous traf's data
	first := true
	for _, traf := range children(body) {
		if traf.typ != "traf" {
			continue
		}
		tfhd := child(traf.body, "tfhd")
		if len(tfhd) < 8 {
			return nil, nil, corrupt("tfhd")
		}
		flags := u32(tfhd, 0) & 0xffffff
		id := u32(tfhd, 4)
		ti := -1
		for i, t := range f.tracks {
			if t.id == id {
				ti = i
			}
		}
		p := 8
		baseOff := dataEnd
		if first {
			baseOff = off
		}
		first = false
		if flags&0x1 != 0 {
			baseOff = int64(u64(tfhd, p))
			p += 8
		} else if flags&0x20000 != 0 {
			baseOff = off
		}
		if flags&0x2 != 0 {
			p += 4
		}
		var defDur, defSize, defFlags uint32
		if ti >= 0 {
			defDur, defSize, defFlags = f.tracks[ti].trex[0], f.tracks[ti].trex[1], f.tracks[ti].trex[2]
		}
		flagged(tfhd, &p, flags, 0x8, &defDur)
		flagged(tfhd, &p, flags, 0x10, &defSize)
		flagged(tfhd, &p, flags, 0x20, &defFlags)
		var dts uint64
		if ti >= 0 {
			dts = next[ti]
		}
		if tfdt := child(traf.body, "tfdt"); len(tfdt) >= 8 {
			if tfdt[0] == 1 {
				dts = u64(tfdt, 4)
			} else {
				dts = uint64(u32(tfdt, 4))
			}
		}
		pos := baseOff
		for _, tr := range children(traf.body) {
			if tr.typ != "trun" {
				continue
			}
			b := tr.body
			if len(b) < 8 {
				return nil, nil, corrupt("trun")
			}
			tf := u32(b, 0) & 0xffffff
			n := int(u32(b, 4))
			q := 8
			if tf&0x1 != 0 {
				pos = baseOff + int64(int32(u32(b, q)))
				q += 4
			}
			firstFlags, hasFirst := uint32(0), false
			if tf&0x4 != 0 {
				firstFlags, hasFirst = u32(b, q), true
				q += 4
			}
			per := 0
			for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
				if tf&bit != 0 {
					per += 4
				}
			}
			if q > len(b) || (per > 0 && n > (len(b)-q)/per) || n+len(out) > maxSamplesPerFrag {
				return nil, nil, corrupt("trun of %d samples", n)
			}
			for i := 0; i < n; i++ {
				dur, size, sflags, cto := defDur, defSize, defFlags, uint32(0)
				flagged(b, &q, tf, 0x100, &dur)
				flagged(b, &q, tf, 0x200, &size)
				if !flagged(b, &q, tf, 0x400, &sflags) && i == 0 && hasFirst {
					sflags = firstFlags
				}
				flagged(b, &q, tf, 0x800, &cto) // signed: read as int32 below
				if ti >= 0 {
					t := f.tracks[ti]
					if size > maxSampleBytes || pos < 0 || pos+int64(size) > f.size {
						return nil, nil, corrupt("sample beyond the end of the file")
					}
					key := t.kind == KindAudio || sflags&0x10000 == 0
					ms := uint32(dts * 1000 / uint64(t.timescale))
					out = append(out, mp4Samp{off: pos, size: size, ts: f.msOf(ms, t),
						cts: int32(int64(int32(cto)) * 1000 / int64(t.timescale)), trk: uint8(ti), key: key})
				}
				pos += int64(size)
				dts += uint64(dur)
			}
		}
		if ti >= 0 {
			next[ti] = dts
		}
		dataEnd = pos
	}
	sortSamples(out)
	return out, next, nil
}

func (f *MP4Reader) load(k int) error {
	f.ci = 0
	f.next = k + 1
	c := f.chunks[k]
	if c.off < 0 {
		f.cur = f.prog
		return nil
	}
	s, _, err := f.parseMoof(c.off, c.base)
	if err != nil {
		f.cur = nil
		return err
	}
	f.cur = s
	return nil
}

// Grow tells the reader that the file, a fragmented MP4 still being
// written, now has size bytes: the fragments completed since it was opened
// (or last grown) are indexed and Next goes on into them. A fragment not
// all on disk yet (its moof or its samples past size) stops the index
// there, to be taken up by the next Grow: a reader never returns part of a
// fragment.
func (f *MP4Reader) Grow(size int64) {
	if size <= f.size {
		return
	}
	f.size = size
	var hb [16]byte
	for f.scan+8 <= size {
		bsize, typ, _, err := boxHeaderAt(f.r, f.scan, size, hb[:])
		if err != nil || f.scan+bsize > size || binary.BigEndian.Uint32(hb[:4]) == 0 {
			return // cut short; or a box "to the end of the file", which cannot be followed
		}
		if typ == "moof" {
			samples, next, err := f.parseMoof(f.scan, f.base)
			if err != nil {
				return
			}
			if len(samples) > 0 {
				f.chunks = append(f.chunks, mp4Chunk{off: f.scan, start: samples[0].ts, base: f.base})
				if last := samples[len(samples)-1].ts; last > f.info.Last {
					f.info.Last, f.info.Duration = last, last+frameMs
				}
			}
			f.base = next
		}
		f.scan += bsize
	}
}

func (f *MP4Reader) Info() FileInfo { return f.info }

func (f *MP4Reader) Headers() []*Message {
	out := make([]*Message, 0, len(f.hdrs))
	for _, m := range f.hdrs {
		out = append(out, m.Retain())
	}
	return out
}

// Next reads the next sample as an FLV tag body.
func (f *MP4Reader) Next() (*Message, error) {
	for f.ci >= len(f.cur) {
		if f.next >= len(f.chunks) {
			return nil, io.EOF
		}
		if err := f.load(f.next); err != nil {
			return nil, err
		}
	}
	s := f.cur[f.ci]
	f.ci++
	t := f.tracks[s.trk]
	var hdr [10]byte // the longest: a one-track multitrack video header with cts
	var h []byte
	switch {
	case t.mt != 0:
		h = appendOneTrackHeader(hdr[:0], t.kind, t.codec, t.mt, s.key, false, s.cts)
	case t.kind == KindVideo:
		h = videoHeader(hdr[:0], t.codec, s.key, false, s.cts)
	default:
		h = audioHeader(hdr[:0], t.codec, false)
	}
	hl := len(h)
	m := f.pool.Get(hl + int(s.size))
	copy(m.Payload, h)
	if err := readFull(f.r, m.Payload[hl:], s.off); err != nil {
		m.Release()
		return nil, err
	}
	m.Kind = t.kind
	m.Timestamp = s.ts
	m.Parse()
	return m, nil
}

// Seek positions the reader at the keyframe at or before ms.
func (f *MP4Reader) Seek(ms uint32) (uint32, error) {
	hasVideo := f.tracks[0].kind == KindVideo
	k, _ := slices.BinarySearchFunc(f.chunks, ms, func(c mp4Chunk, ms uint32) int {
		if c.start <= ms {
			return -1
		}
		return 1
	})
	k = max(k-1, 0)
	for ; k >= 0; k-- {
		if err := f.load(k); err != nil {
			return 0, err
		}
		for j := len(f.cur) - 1; j >= 0; j-- {
			s := f.cur[j]
			if s.ts <= ms && s.key && (!hasVideo || s.trk == 0) {
				f.ci = j
				return s.ts, nil
			}
		}
	}
	// Nothing at or before ms: the first keyframe of the file.
	for k = 0; k < len(f.chunks); k++ {
		if err := f.load(k); err != nil {
			return 0, err
		}
		for j, s := range f.cur {
			if s.key && (!hasVideo || s.trk == 0) {
				f.ci = j
				return s.ts, nil
			}
		}
	}
	f.ci = len(f.cur)
	return ms, nil
}

// Close releases the headers.
func (f *MP4Reader) Close() error {
	for _, m := range f.hdrs {
		m.Release()
	}
	f.hdrs = nil
	return nil
}
