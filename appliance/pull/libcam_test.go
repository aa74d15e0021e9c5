package pull

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// libCam is a camera nobody here wrote: gortsplib's RTSP server, serving
// in a loop, in real time, an MPEG-TS file that ffmpeg encoded (x264 or
// x265 with B-frames, AAC at 48 kHz). It records what its client does:
// the requests, the RTCP it sends, the TEARDOWN and when its connections
// closed.
type libCam struct {
	t      *testing.T
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
	addr   string // host:port of the RTSP listener
	scheme string
	user   string
	pass   string
	stop   func() // the camera goes away: its listeners and sessions close

	mu        sync.Mutex
	methods   []string
	rrs       []*rtcp.ReceiverReport
	ssrcs     []uint32 // of the video and audio, once a Sender Report went out
	teardowns int
	torndown  time.Time
	closedAt  time.Time
	conns     int
}

// libCamConfig says what a libCam serves and how.
type libCamConfig struct {
	codec      string // h264 or h265
	tls        *tls.Config
	user, pass string // Digest authentication when set
	addr       string // host:port to listen on; a free port when empty
}

const (
	// libNTP is the NTP time of the Sender Report the camera sends first;
	// the middle 32 bits come back as the LSR of receiver reports.
	libNTP    = uint64(0xE8A1_AAAA_BBBB_1234)
	libNTPMid = uint32(libNTP >> 16 & 0xFFFFFFFF)
)

// encodeTS has ffmpeg make 4 s of 25 fps video with B-frames and AAC in an
// MPEG-TS file.
func encodeTS(t *testing.T, codec string) string {
	t.Helper()
	testenv.NeedTool(t, "ffmpeg")
	out := t.TempDir() + "/cam.ts"
	venc := []string{"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main", "-bf", "2", "-g", "25", "-threads", "1"}
	if codec == "h265" {
		venc = []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "bframes=2:b-adapt=0:keyint=25:frame-threads=1:pools=1:log-level=error"}
	}
	args := append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4"}, venc...)
	args = append(args, "-c:a", "aac", "-ac", "2", "-f", "mpegts", "-y", out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// tsUnit is one access unit of the file: video (au) or AAC frames (aus).
type tsUnit struct {
	video    bool
	pts, dts int64 // 90 kHz
	au       [][]byte
}

// readTS demuxes the file with mediacommon's MPEG-TS reader.
func readTS(t *testing.T, file string) (units []tsUnit, video *tscodecs.H264, hevc *tscodecs.H265, aac *tscodecs.MPEG4Audio) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &mpegts.Reader{R: f}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	for _, tr := range r.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			video = c
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				units = append(units, tsUnit{true, pts, dts, deepCopy(au)})
				return nil
			})
		case *tscodecs.H265:
			hevc = c
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				units = append(units, tsUnit{true, pts, dts, deepCopy(au)})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			aac = c
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				units = append(units, tsUnit{false, pts, pts, deepCopy(aus)})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
	}
	if video == nil && hevc == nil || aac == nil || len(units) == 0 {
		t.Fatalf("%s: no video and audio", file)
	}
	// In the order they are sent: decode times.
	slices.SortStableFunc(units, func(a, b tsUnit) int { return int(a.dts - b.dts) })
	return units, video, hevc, aac
}

// deepCopy copies what the reader may reuse.
func deepCopy(bs [][]byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = slices.Clone(b)
	}
	return out
}

// paramSets returns the parameter sets of the first keyframe.
func paramSets(units []tsUnit, hevc bool) (vps, sps, pps []byte) {
	for _, u := range units {
		if !u.video {
			continue
		}
		for _, n := range u.au {
			if hevc {
				switch (n[0] >> 1) & 0x3F {
				case 32:
					vps = n
				case 33:
					sps = n
				case 34:
					pps = n
				}
			} else {
				switch n[0] & 0x1F {
				case 7:
					sps = n
				case 8:
					pps = n
				}
			}
		}
		if sps != nil {
			return vps, sps, pps
		}
	}
	return nil, nil, nil
}

// startLibCam starts the camera on a free port, over TCP and UDP.
func startLibCam(t *testing.T, cfg libCamConfig) *libCam {
	t.Helper()
	units, _, hevc, aac := readTS(t, encodeTS(t, cfg.codec))
	vps, sps, pps := paramSets(units, hevc != nil)
	var vf format.Format = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	if hevc != nil {
		vf = &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	}
	ascfg := aac.Config
	af := &format.MPEG4Audio{PayloadTyp: 97, Config: &ascfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{vf}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{af}},
	}}
	c := &libCam{t: t, scheme: "rtsp", user: cfg.user, pass: cfg.pass}
	if cfg.tls != nil {
		c.scheme = "rtsps"
	}
	// The UDP ports must be an even/odd pair: try a few.
	var err error
	for range 20 {
		c.addr = cfg.addr
		if c.addr == "" {
			c.addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		}
		rtpPort := 20000 + 2*rand.IntN(20000)
		c.srv = &gortsplib.Server{
			Handler:        c,
			RTSPAddress:    c.addr,
			TLSConfig:      cfg.tls,
			ReadTimeout:    5 * time.Second,
			WriteTimeout:   5 * time.Second,
			UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", rtpPort),
			UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", rtpPort+1),
			AuthMethods:    []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
		}
		if cfg.tls != nil {
			c.srv.UDPRTPAddress, c.srv.UDPRTCPAddress = "", "" // rtsps: TCP only
		}
		if err = c.srv.Start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("gortsplib server: %v", err)
	}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: desc}
	if err := c.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		c.play(units, done)
	}()
	c.stop = sync.OnceFunc(func() {
		close(done)
		<-stopped
		c.stream.Close()
		c.srv.Close()
	})
	t.Cleanup(c.stop)
	return c
}

// url returns the URL of the camera's stream, with credentials if it has
// them.
func (c *libCam) url() string {
	if c.user != "" {
		return c.scheme + "://" + c.user + ":" + c.pass + "@" + c.addr + "/cam"
	}
	return c.scheme + "://" + c.addr + "/cam"
}

// play writes the units in real time (by DTS), the file over and over,
// and a Sender Report for each track after the first second.
func (c *libCam) play(units []tsUnit, done <-chan struct{}) {
	medias := c.stream.Desc.Medias
	type encoder interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	var venc encoder
	var ssrcV, ssrcA uint32
	switch f := medias[0].Formats[0].(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			panic(err)
		}
		venc = e
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			panic(err)
		}
		venc = e
	}
	af := medias[1].Formats[0].(*format.MPEG4Audio)
	aenc, err := af.CreateEncoder()
	if err != nil {
		panic(err)
	}
	rate := int64(af.ClockRate())
	vBase, aBase := rand.Uint32(), rand.Uint32()
	first, end := units[0].dts, int64(0)
	for _, u := range units {
		end = max(end, u.pts)
	}
	period := end - first + 3600 // the file again one frame after its end
	start := time.Now()
	srSent := false
	for loop := int64(0); ; loop++ {
		for _, u := range units {
			off := loop*period - first
			at := start.Add(time.Duration(u.dts+off) * time.Second / 90000)
			select {
			case <-done:
				return
			case <-time.After(time.Until(at)):
			}
			var pkts []*rtp.Packet
			var medi *description.Media
			var ts uint32
			if u.video {
				pkts, err = venc.Encode(u.au)
				medi, ts = medias[0], vBase+uint32(u.pts+off)
			} else {
				pkts, err = aenc.Encode(u.au)
				medi, ts = medias[1], aBase+uint32((u.pts+off)*rate/90000)
			}
			if err != nil {
				panic(err)
			}
			for _, p := range pkts {
				p.Timestamp += ts // the encoders count from 0 (AAC: 1024 a frame)
				c.stream.WritePacketRTP(medi, p)
				// The stream gives each format an SSRC of its own.
				if u.video {
					ssrcV = p.SSRC
				} else {
					ssrcA = p.SSRC
				}
			}
			if !srSent && time.Since(start) > time.Second {
				srSent = true
				c.mu.Lock()
				c.ssrcs = []uint32{ssrcV, ssrcA}
				c.mu.Unlock()
				for i, ssrc := range c.ssrcs {
					c.stream.WritePacketRTCP(medias[i], &rtcp.SenderReport{SSRC: ssrc, NTPTime: libNTP, RTPTime: ts})
				}
			}
		}
	}
}

// OnRequest records the methods the client sent.
func (c *libCam) OnRequest(_ *gortsplib.ServerConn, r *base.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods = append(c.methods, string(r.Method))
	if r.Method == base.Teardown {
		c.teardowns++
		c.torndown = time.Now()
	}
}

// OnConnOpen counts connections.
func (c *libCam) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns++
}

// OnConnClose records when a connection closed.
func (c *libCam) OnConnClose(*gortsplib.ServerHandlerOnConnCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closedAt = time.Now()
}

func (c *libCam) authorized(conn *gortsplib.ServerConn, r *base.Request) bool {
	return c.user == "" || conn.VerifyCredentials(r, c.user, c.pass)
}

// OnDescribe serves the stream.
func (c *libCam) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !c.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnSetup serves the stream.
func (c *libCam) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !c.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay records the client's receiver reports.
func (c *libCam) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTCPAny(func(_ *description.Media, p rtcp.Packet) {
		if rr, ok := p.(*rtcp.ReceiverReport); ok {
			c.mu.Lock()
			c.rrs = append(c.rrs, rr)
			c.mu.Unlock()
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// checkRRs counts the receiver reports that carry a block for one of the
// camera's SSRCs, with the LSR of its Sender Report, nothing lost.
func (c *libCam) checkRRs(t *testing.T) (withLSR int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rr := range c.rrs {
		for _, b := range rr.Reports {
			if !slices.Contains(c.ssrcs, b.SSRC) {
				t.Errorf("receiver report on SSRC %x", b.SSRC)
			}
			if b.TotalLost != 0 {
				t.Errorf("receiver report: %d lost", b.TotalLost)
			}
			if b.LastSenderReport == libNTPMid {
				withLSR++
			}
		}
	}
	return withLSR
}

// Compile-time checks that libCam is the handler it means to be.
var (
	_ gortsplib.ServerHandlerOnRequest   = (*libCam)(nil)
	_ gortsplib.ServerHandlerOnDescribe  = (*libCam)(nil)
	_ gortsplib.ServerHandlerOnSetup     = (*libCam)(nil)
	_ gortsplib.ServerHandlerOnPlay      = (*libCam)(nil)
	_ gortsplib.ServerHandlerOnConnOpen  = (*libCam)(nil)
	_ gortsplib.ServerHandlerOnConnClose = (*libCam)(nil)
)
