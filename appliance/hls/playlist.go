package hls

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// playlistLocked renders the LL-HLS media playlist (RFC 8216bis): the
// complete segments, the parts of the newest partKeep segments and a
// preload hint for the next part. suffix is appended to every URI (the
// play key the request came with).
func (m *muxer) playlistLocked(suffix string) string {
	var b strings.Builder
	part := m.cfg.PartDuration.Seconds()
	target := int64(math.Ceil(max(m.cfg.SegmentDuration.Seconds(), float64(m.maxDur)/1000)))
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n", 3*part)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", part)
	for _, n := range m.notes {
		fmt.Fprintf(&b, "# %s\n", n)
	}
	if len(m.segs) > 0 {
		fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", m.segs[0].msn)
	}
	if m.discSeq > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", m.discSeq)
	}
	init := -1
	for i, s := range m.segs {
		if s.discont && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.init != init {
			init = s.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"init%d.mp4%s\"\n", init, suffix)
		}
		pdt := m.anchors[s.init].Add(time.Duration(s.start) * time.Millisecond).UTC()
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", pdt.Format("2006-01-02T15:04:05.000Z07:00"))
		if i >= len(m.segs)-partKeep {
			for _, p := range s.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.3f,URI=\"part%d.mp4%s\"", float64(p.dur)/1000, p.pn, suffix)
				if p.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if s.complete {
			fmt.Fprintf(&b, "#EXTINF:%.3f,\nseg%d.mp4%s\n", float64(s.dur)/1000, s.msn, suffix)
		}
	}
	if m.err == nil {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part%d.mp4%s\"\n", m.nextPN, suffix)
	} else {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// readyLocked reports whether a playlist request may be answered: a
// blocking reload (_HLS_msn, _HLS_part) once that segment or part exists,
// any other once there are startSegments complete segments. bad reports a request for
// a segment too far ahead to wait for. A first request waits for
// startSegments complete segments.
func (m *muxer) readyLocked(msn, part int64) (ready, bad bool) {
	if m.err != nil {
		return true, false
	}
	if msn < 0 {
		n := m.completeLocked()
		// Fewer when max_stream_bytes holds fewer.
		trimmed := len(m.segs) > 0 && m.segs[0].msn > 0
		return n >= startSegments || (n > 0 && trimmed), false
	}
	if uint64(msn) > m.nextMSN+1 {
		return false, true
	}
	for _, s := range m.segs {
		switch {
		case s.msn > uint64(msn):
			return true, false
		case s.msn == uint64(msn):
			if s.complete || (part >= 0 && int64(len(s.parts)) > part) {
				return true, false
			}
		}
	}
	return false, false
}

// completeLocked counts the complete segments.
func (m *muxer) completeLocked() int {
	n := 0
	for _, s := range m.segs {
		if s.complete {
			n++
		}
	}
	return n
}

// partLocked finds part pn.
func (m *muxer) partLocked(pn uint64) *part {
	for _, s := range m.segs {
		if n := len(s.parts); n > 0 && s.parts[0].pn <= pn && pn <= s.parts[n-1].pn {
			return s.parts[pn-s.parts[0].pn]
		}
	}
	return nil
}

// segmentLocked finds complete segment msn.
func (m *muxer) segmentLocked(msn uint64) *segment {
	for _, s := range m.segs {
		if s.msn == msn && s.complete {
			return s
		}
	}
	return nil
}
