package pull

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/remux"
	rtpdepack "github.com/tapedeck/tapedeck/remux/rtp"
)

// userAgent is the User-Agent of our RTSP requests.
const userAgent = "tapedeck"

// udpReadBuffer is the socket buffer asked for each UDP track: a keyframe
// of a 4K camera arrives as hundreds of packets at once.
const udpReadBuffer = 4 << 20

// rtspTrack is one media of the session we set up and depacketize.
type rtspTrack struct {
	media  *description.Media
	forma  format.Format
	depack rtpdepack.Depacketizer
}

// runRTSP runs one RTSP session until it fails or the pull is stopped. The
// session (DESCRIBE, SETUP, PLAY, auth, keep-alive, RTCP receiver reports,
// TEARDOWN, RTP reordering over UDP) is gortsplib's client.
func (p *puller) runRTSP(ctx context.Context) error {
	u, err := base.ParseURL(p.src.URL)
	if err != nil {
		return fmt.Errorf("rtsp url: %w", err)
	}
	proto := gortsplib.ProtocolTCP
	if p.transport == "udp" {
		proto = gortsplib.ProtocolUDP
	}
	timeout := p.m.opts.Timeout
	c := &gortsplib.Client{
		Scheme:            u.Scheme,
		Host:              u.Host,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		TLSConfig:         p.rtspTLS(u),
		Protocol:          &proto,
		UDPReadBufferSize: udpReadBuffer,
		UserAgent:         userAgent,
		DialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			// Dialling ends with the pull, not only with the client.
			dctx, cancel := context.WithCancel(dctx)
			defer context.AfterFunc(ctx, cancel)()
			var d net.Dialer
			return d.DialContext(dctx, network, addr)
		},
		OnTransportSwitch: func(err error) { p.log.Warn("pull: rtsp transport switched", "err", err) },
		OnPacketsLost:     func(n uint64) { p.log.Debug("pull: rtp packets lost", "count", n) },
		OnDecodeError:     func(err error) { p.log.Debug("pull: rtp decode error", "err", err) },
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("rtsp: %w", err)
	}
	// Close sends the TEARDOWN on the control connection, then closes it;
	// a stop closes the client at once, wherever the session is.
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	desc, _, err := c.Describe(u)
	if err != nil {
		return p.rtspErr(ctx, "describe", err)
	}
	tracks, err := pickTracks(desc, p.m.pool)
	if err != nil {
		return err
	}
	for _, t := range tracks {
		if _, err := c.Setup(desc.BaseURL, t.media, 0, 0); err != nil {
			return p.rtspErr(ctx, "setup", err)
		}
	}

	// Packets come from one goroutine per UDP socket, or the TCP reader:
	// mu serialises them, so the depacketizers, their shared epoch and the
	// publication have one writer at a time.
	var mu sync.Mutex
	var pb *publication
	var out []*remux.Message
	video := make([]bool, len(tracks))
	for i, t := range tracks {
		video[i] = t.media.Type == description.MediaTypeVideo
	}
	silence := newSilenceWatch(video)
	for i, t := range tracks {
		c.OnPacketRTP(t.media, t.forma, func(pkt *rtp.Packet) {
			silence.packet(i, time.Now())
			pts, ok := c.PacketPTS(t.media, pkt)
			if !ok {
				return // not yet on the session's timeline
			}
			mu.Lock()
			defer mu.Unlock()
			if pb == nil {
				return // before PLAY's reply: nowhere to go yet
			}
			out = t.depack.Push(pkt, pts, out[:0])
			for i, m := range out {
				pb.write(m)
				out[i] = nil
			}
		})
	}
	var reporter *tcpReporter
	if p.transport != "udp" {
		reporter = newTCPReporter(c, tracks)
	}
	if _, err := c.Play(nil); err != nil {
		return p.rtspErr(ctx, "play", err)
	}
	codecs := make([]string, len(tracks))
	for i, t := range tracks {
		codecs[i] = t.forma.Codec()
	}
	p.log.Info("pull: rtsp playing", "tracks", codecs, "transport", p.transport)
	mu.Lock()
	pb, err = p.publish()
	if err == nil {
		pb.write(rtspMetadata(tracks))
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		c.Close() // no callback runs after it
		pb.pub.Close()
	}()
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	if reporter != nil {
		wg.Go(func() { reporter.run(done) })
	}
	wg.Go(func() {
		silence.run(done, 250*time.Millisecond, timeout, func(i int) {
			p.log.Warn("pull: rtsp track silent, reconnecting", "track", tracks[i].forma.Codec(), "after", timeout)
			c.Close()
		})
	})
	err = c.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("rtsp: %w", err)
}

// rtspErr words a failed request, or reports the stop that caused it.
func (p *puller) rtspErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("rtsp %s: %w", what, err)
}

// rtspTLS returns the TLS configuration for an rtsps:// camera: a clone of
// Options.TLSConfig (the system roots plus relay.ca_file) naming the host.
func (p *puller) rtspTLS(u *base.URL) *tls.Config {
	if u.Scheme != "rtsps" {
		return nil
	}
	cfg := p.m.opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	return cfg
}

// pickTracks chooses the first supported video and the first supported
// audio media of the camera's SDP and prepares their depacketizers.
func pickTracks(desc *description.Session, pool *remux.Pool) ([]*rtspTrack, error) {
	var video, audio *rtspTrack
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			if video == nil && isVideo(f) {
				video = &rtspTrack{media: m, forma: f}
				break
			}
			if audio == nil && isAudio(f) {
				audio = &rtspTrack{media: m, forma: f}
				break
			}
		}
	}
	var tracks []*rtspTrack
	for _, t := range []*rtspTrack{video, audio} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	if len(tracks) == 0 {
		var found []string
		for _, m := range desc.Medias {
			for _, f := range m.Formats {
				found = append(found, string(m.Type)+"/"+f.Codec())
			}
		}
		return nil, fmt.Errorf("rtsp: no supported media in %v (want H264/H265 video, AAC/G.711 audio)", found)
	}
	epoch := rtpdepack.NewEpoch(video != nil)
	for _, t := range tracks {
		d, err := newDepacketizer(t.forma, epoch, pool)
		if err != nil {
			return nil, fmt.Errorf("rtsp %s: %w", t.forma.Codec(), err)
		}
		t.depack = d
	}
	return tracks, nil
}

func isVideo(f format.Format) bool {
	switch f.(type) {
	case *format.H264, *format.H265:
		return true
	}
	return false
}

func isAudio(f format.Format) bool {
	switch f := f.(type) {
	case *format.MPEG4Audio:
		return f.Config != nil && f.SizeLength > 0
	case *format.G711:
		return f.SampleRate == 8000 && f.ChannelCount <= 1
	}
	return false
}

// newDepacketizer returns the depacketizer of a supported format, with the
// parameter sets of the SDP.
func newDepacketizer(f format.Format, epoch *rtpdepack.Epoch, pool *remux.Pool) (rtpdepack.Depacketizer, error) {
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		return rtpdepack.NewVideo(rtpdepack.H264, epoch, pool, nonEmpty(sps, pps)...)
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		return rtpdepack.NewVideo(rtpdepack.H265, epoch, pool, nonEmpty(vps, sps, pps)...)
	case *format.MPEG4Audio:
		cfg, err := f.Config.Marshal()
		if err != nil {
			return nil, fmt.Errorf("audio specific config: %w", err)
		}
		return rtpdepack.NewAAC(rtpdepack.AACConfig{
			Config: cfg, SizeLength: f.SizeLength, IndexLength: f.IndexLength, IndexDeltaLength: f.IndexDeltaLength,
		}, f.ClockRate(), epoch, pool)
	case *format.G711:
		return rtpdepack.NewG711(!f.MULaw, epoch, pool), nil
	}
	return nil, errors.New("unsupported format")
}

func nonEmpty(bs ...[]byte) [][]byte {
	out := bs[:0]
	for _, b := range bs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}
