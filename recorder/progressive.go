package recorder

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// progressive collects the sample tables of a FormatMP4 segment while it
// is recorded as fMP4 (memory grows with the segment, ~14 bytes per
// sample, never with uptime). At close, rewrite turns the fragmented file
// into a progressive one (ftyp, moov, mdat) next to it and renames it over
// the original: the one whole-file rewrite, and only for this format.
type progressive struct {
	tracks  []*mp4Track
	frags   []fragRange
	dataLen int64
}

type fragRange struct{ off, n int64 }

type progTrack struct {
	sizes    []uint32
	durs     []uint32
	ctts     []int32
	syncs    []uint32 // 1-based sample numbers
	chunks   []progChunk
	count    uint32
	firstDTS int64
	hasCTS   bool
	negCTS   bool
}

type progChunk struct {
	logical int64 // offset in the concatenated sample data
	n       uint32
}

func (p *progressive) addFragment(tracks []*mp4Track, dataStart trackOffsets, mdatData int64, dataLen int) {
	for i, t := range tracks {
		if len(t.samples) == 0 {
			continue
		}
		pt := t.prog
		if pt.count == 0 {
			pt.firstDTS = t.samples[0].dts
		}
		pt.chunks = append(pt.chunks, progChunk{logical: p.dataLen + int64(dataStart[i]), n: uint32(len(t.samples))})
		for _, s := range t.samples {
			pt.count++
			pt.sizes = append(pt.sizes, uint32(len(s.data)))
			pt.durs = append(pt.durs, s.dur)
			if t.video {
				pt.ctts = append(pt.ctts, s.cts)
				if s.cts != 0 {
					pt.hasCTS = true
				}
				if s.cts < 0 {
					pt.negCTS = true
				}
				if s.key {
					pt.syncs = append(pt.syncs, pt.count)
				}
			}
		}
	}
	p.frags = append(p.frags, fragRange{mdatData, int64(dataLen)})
	p.dataLen += int64(dataLen)
}

// moov builds the progressive moov with chunk offsets starting at dataStart.
func (p *progressive) moov(dataStart int64, co64 bool) []byte {
	var movieDur uint64
	durs := make([]uint64, len(p.tracks))
	for i, t := range p.tracks {
		var d uint64
		for _, x := range t.prog.durs {
			d += uint64(x)
		}
		durs[i] = d
		ms := (uint64(t.prog.firstDTS) + d) * 1000 / uint64(t.timescale)
		movieDur = max(movieDur, ms)
	}
	b, moov := boxStart(nil, "moov")
	b = appendMvhd(b, movieDur, uint32(len(p.tracks)+1))
	for i, t := range p.tracks {
		pt := t.prog
		info := t.mp4TrackInfo
		info.duration = durs[i]
		mediaMs := durs[i] * 1000 / uint64(t.timescale)
		startMs := uint64(pt.firstDTS) * 1000 / uint64(t.timescale)
		var offs [3]int
		b, offs = appendTrakHead(b, &info, startMs+mediaMs)
		var stbl, off int
		b, stbl = boxStart(b, "stbl")
		b = appendStsd(b, &info)

		b, off = fullBoxStart(b, "stts", 0, 0)
		cntPos := len(b)
		b = be32(b, 0)
		var entries uint32
		for j := 0; j < len(pt.durs); {
			k := j
			for k < len(pt.durs) && pt.durs[k] == pt.durs[j] {
				k++
			}
			b = be32(b, uint32(k-j))
			b = be32(b, pt.durs[j])
			entries++
			j = k
		}
		putU32(b, cntPos, entries)
		b = boxEnd(b, off)

		if pt.hasCTS {
			v := uint8(0)
			if pt.negCTS {
				v = 1
			}
			b, off = fullBoxStart(b, "ctts", v, 0)
			cntPos = len(b)
			b = be32(b, 0)
			entries = 0
			for j := 0; j < len(pt.ctts); {
				k := j
				for k < len(pt.ctts) && pt.ctts[k] == pt.ctts[j] {
					k++
				}
				b = be32(b, uint32(k-j))
				b = be32(b, uint32(pt.ctts[j]))
				entries++
				j = k
			}
			putU32(b, cntPos, entries)
			b = boxEnd(b, off)
		}
		if t.video && len(pt.syncs) != int(pt.count) {
			b, off = fullBoxStart(b, "stss", 0, 0)
			b = be32(b, uint32(len(pt.syncs)))
			for _, s := range pt.syncs {
				b = be32(b, s)
			}
			b = boxEnd(b, off)
		}

		b, off = fullBoxStart(b, "stsc", 0, 0)
		cntPos = len(b)
		b = be32(b, 0)
		entries = 0
		for j, c := range pt.chunks {
			if j == 0 || c.n != pt.chunks[j-1].n {
				b = be32(b, uint32(j+1))
				b = be32(b, c.n)
				b = be32(b, 1)
				entries++
			}
		}
		putU32(b, cntPos, entries)
		b = boxEnd(b, off)

		b, off = fullBoxStart(b, "stsz", 0, 0)
		b = be32(b, 0)
		b = be32(b, pt.count)
		for _, s := range pt.sizes {
			b = be32(b, s)
		}
		b = boxEnd(b, off)

		if co64 {
			b, off = fullBoxStart(b, "co64", 0, 0)
			b = be32(b, uint32(len(pt.chunks)))
			for _, c := range pt.chunks {
				b = be64(b, uint64(dataStart+c.logical))
			}
		} else {
			b, off = fullBoxStart(b, "stco", 0, 0)
			b = be32(b, uint32(len(pt.chunks)))
			for _, c := range pt.chunks {
				b = be32(b, uint32(dataStart+c.logical))
			}
		}
		b = boxEnd(b, off)
		b = boxEnd(b, stbl)
		b = appendTrakTail(b, offs)
		if pt.firstDTS > 0 {
			b = insertEdts(b, offs[0], startMs, mediaMs)
		}
	}
	return boxEnd(b, moov)
}

func putU32(b []byte, pos int, v uint32) {
	b[pos], b[pos+1], b[pos+2], b[pos+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// insertEdts puts an edit list (an empty edit of startMs, then the media)
// right after the tkhd of the trak starting at trak, and fixes its size.
func insertEdts(b []byte, trak int, startMs, mediaMs uint64) []byte {
	tkhdSize := int(uint32(b[trak+8])<<24 | uint32(b[trak+9])<<16 | uint32(b[trak+10])<<8 | uint32(b[trak+11]))
	at := trak + 8 + tkhdSize
	e, edts := boxStart(nil, "edts")
	var off int
	e, off = fullBoxStart(e, "elst", 1, 0)
	e = be32(e, 2)
	e = be64(e, startMs)
	e = be64(e, math.MaxUint64) // media_time -1: empty edit
	e = be32(e, 0x00010000)
	e = be64(e, mediaMs)
	e = be64(e, 0)
	e = be32(e, 0x00010000)
	e = boxEnd(e, off)
	e = boxEnd(e, edts)
	out := make([]byte, 0, len(b)+len(e))
	out = append(out, b[:at]...)
	out = append(out, e...)
	out = append(out, b[at:]...)
	return boxEnd(out, trak)
}

// rewrite writes the progressive file and renames it over path. It returns
// the new file's size.
func (p *progressive) rewrite(path string, tracks []*mp4Track) (int64, error) {
	ftyp := appendFtyp(nil, false)
	hdr := int64(8)
	co64 := false
	moov := p.moov(0, false)
	start := int64(len(ftyp)+len(moov)) + hdr
	if start+p.dataLen > math.MaxUint32 {
		co64, hdr = true, 16
		moov = p.moov(0, true)
		start = int64(len(ftyp)+len(moov)) + hdr
	}
	moov = p.moov(start, co64)

	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := path + ".tmp"
	os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		out.Close()
		os.Remove(tmp)
		return 0, fmt.Errorf("progressive mp4: %w", err)
	}
	bw := bufio.NewWriterSize(out, bufSize)
	bw.Write(ftyp)
	bw.Write(moov)
	if co64 {
		bw.Write(be64(be32(be32(nil, 1), 0x6d646174), uint64(16+p.dataLen)))
	} else {
		bw.Write(be32(be32(nil, uint32(8+p.dataLen)), 0x6d646174))
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	for _, f := range p.frags {
		if _, err := in.Seek(f.off, io.SeekStart); err != nil {
			return fail(err)
		}
		if _, err := io.CopyN(out, in, f.n); err != nil {
			return fail(err)
		}
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	syncDir(filepath.Dir(path))
	return start + p.dataLen, nil
}
