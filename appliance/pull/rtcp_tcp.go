package pull

import (
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/pion/rtcp"
)

// tcpReportEvery is the period of our receiver reports over TCP: the one
// gortsplib uses over UDP ("some cameras require a maximum of 5 secs").
const tcpReportEvery = 5 * time.Second

// tcpReporter sends RTCP receiver reports on the interleaved RTCP channels
// of a TCP session. gortsplib's client reports only over UDP, but cameras
// that stop sending to a receiver that does not report exist over TCP
// too; the figures come from the client's statistics, the LSR from the
// camera's Sender Reports we watch.
type tcpReporter struct {
	c      *gortsplib.Client
	tracks []*rtspTrack

	mu  sync.Mutex
	lsr map[*rtspTrack]srSeen
}

// srSeen is the last Sender Report of a track: the middle 32 bits of its
// NTP time, and when it came.
type srSeen struct {
	ntpMiddle uint32
	at        time.Time
}

// newTCPReporter watches the Sender Reports of the tracks; call it before
// PLAY.
func newTCPReporter(c *gortsplib.Client, tracks []*rtspTrack) *tcpReporter {
	r := &tcpReporter{c: c, tracks: tracks, lsr: make(map[*rtspTrack]srSeen)}
	for _, t := range tracks {
		c.OnPacketRTCP(t.media, func(p rtcp.Packet) {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				r.mu.Lock()
				r.lsr[t] = srSeen{uint32(sr.NTPTime >> 16), time.Now()}
				r.mu.Unlock()
			}
		})
	}
	return r
}

// run reports every tcpReportEvery until done.
func (r *tcpReporter) run(done <-chan struct{}) {
	tick := time.NewTicker(tcpReportEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			r.report()
		}
	}
}

func (r *tcpReporter) report() {
	st := r.c.Stats()
	if st == nil {
		return
	}
	now := time.Now()
	for _, t := range r.tracks {
		fs, ok := st.Session.Medias[t.media].Formats[t.forma]
		if !ok || fs.RTPPacketsReceived == 0 {
			continue
		}
		// The statistics have the last sequence number, not its cycles:
		// the extended highest sequence number of the report wraps at
		// 16 bits (cameras use it to see that the receiver is alive).
		blk := rtcp.ReceptionReport{
			SSRC:               fs.RemoteSSRC,
			LastSequenceNumber: uint32(fs.RTPPacketsLastSequenceNumber),
			TotalLost:          uint32(min(fs.RTPPacketsLost, 0xFFFFFF)),
			Jitter:             uint32(fs.RTPPacketsJitter),
		}
		r.mu.Lock()
		if sr, ok := r.lsr[t]; ok {
			blk.LastSenderReport = sr.ntpMiddle
			blk.Delay = uint32(now.Sub(sr.at).Seconds() * 65536) // 1/65536 s
		}
		r.mu.Unlock()
		// Best effort: a failed write ends the session anyway.
		r.c.WritePacketRTCP(t.media, &rtcp.ReceiverReport{SSRC: fs.LocalSSRC, Reports: []rtcp.ReceptionReport{blk}}) //nolint:errcheck
	}
}
