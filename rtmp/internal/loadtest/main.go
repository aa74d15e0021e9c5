//go:build unix

// Command loadtest drives one RTMP publisher (or -streams of them) and
// many players against an RTMP server and reports delivery, latency and
// (optionally) the server's CPU and memory as one markdown table row.
//
//	go run ./rtmp/internal/loadtest -url rtmp://127.0.0.1:1935/live/load \
//	    -players 1000 -bitrate 2.5M -duration 30s -warmup 5s -server-pid PID
//
// With -streams S > 1 the tool publishes S streams, the URL's stream name
// with 1..S appended (load1, load2, ...), each at -bitrate, and -players
// is per stream: S × players players in all, player i watching stream
// i mod S (so every stream's players join spread over the ramp).
//
// The publisher sends synthetic FLV media paced in real time: AVC and AAC
// sequence headers, then 25 fps AVC video (a keyframe every 50 frames, ten
// times the size of an inter frame) and ~43 AAC frames per second. Every
// video body carries its send time (unix ns) and a frame number, so players
// measure end-to-end latency and count lost frames, and the time from
// NetStream.Play.Start to the first keyframe (what a GOP cache saves a
// joining player). Nobody decodes the media.
//
// Timeline: publish, settle (the server holds a full GOP), idle RSS sample,
// players connect at -ramp per second, warmup, measured window, teardown.
// Only the measured window counts.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/rtmp"
)

type options struct {
	url       string
	streams   int
	players   int     // per stream
	bitrate   float64 // bit/s of media payload (audio + video)
	duration  time.Duration
	warmup    time.Duration
	settle    time.Duration
	ramp      float64
	serverPID int
	label     string
	header    bool
	fps       int
	gop       int
	timeout   time.Duration
	behindPct float64
	progress  time.Duration
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	var bitrate string
	flag.StringVar(&o.url, "url", "rtmp://127.0.0.1:1935/live/load", "stream URL (publisher and players)")
	flag.IntVar(&o.streams, "streams", 1, "number of published streams (names: the URL's with 1..N appended when N > 1)")
	flag.IntVar(&o.players, "players", 100, "number of players per stream")
	flag.StringVar(&bitrate, "bitrate", "2.5M", "published media bitrate in bit/s (k, M, G suffixes)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "measured window")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "wait after the last player joined, before the window")
	flag.DurationVar(&o.settle, "settle", 2500*time.Millisecond, "publish this long before players connect (idle RSS is sampled then)")
	flag.Float64Var(&o.ramp, "ramp", 200, "players connected per second")
	flag.IntVar(&o.serverPID, "server-pid", 0, "server process to sample CPU and RSS from /proc (0 = none)")
	flag.StringVar(&o.label, "label", "", "first column of the row (default: host:port of -url)")
	flag.BoolVar(&o.header, "header", false, "print the table header before the row")
	flag.IntVar(&o.fps, "fps", 25, "video frames per second")
	flag.IntVar(&o.gop, "gop", 50, "frames per keyframe interval")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "dial/handshake/command timeout")
	flag.Float64Var(&o.behindPct, "behind", 90, "a player is behind below this percentage of the published bitrate")
	flag.DurationVar(&o.progress, "progress", time.Second, "log a progress line this often to stderr (0 = never)")
	flag.Parse()

	var err error
	if o.bitrate, err = parseBitrate(bitrate); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 2
	}
	if o.players < 0 || o.streams <= 0 || o.duration <= 0 || o.ramp <= 0 || o.fps <= 0 || o.gop <= 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -players >= 0, -streams, -duration, -ramp, -fps and -gop > 0")
		return 2
	}
	if o.label == "" {
		if addr, _, _, _, err := rtmp.ParseURL(o.url); err == nil {
			o.label = addr
		}
	}
	if err := raiseFDLimit(o.players*o.streams + o.streams + 64); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 1
	}
	return loadtest(o)
}

func parseBitrate(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "bps"), "b")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad -bitrate %q", s)
	}
	return v * mult, nil
}

func raiseFDLimit(need int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	if rl.Cur < uint64(need) {
		return fmt.Errorf("open file limit %d is below the %d needed; raise the hard limit (ulimit -Hn)", rl.Cur, need)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Publisher

const (
	audioRate    = 44100
	audioSamples = 1024
	audioBody    = 200 // bytes after the 2-byte AAC header
	videoHdr     = 5   // 0x17/0x27, 0x01, CTS
	videoMeta    = 16  // send time (8) + frame number (8)
)

// AVCDecoderConfigurationRecord for 1280x720 High@3.1 (x264), so a server
// that parses it (nginx-rtmp's codec module does) is satisfied.
var avcSeqHeader = []byte{
	0x17, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x19,
	0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10,
	0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83,
	0x19, 0x60,
	0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
}

// AAC LC, 44.1 kHz, stereo.
var aacSeqHeader = []byte{0xAF, 0x00, 0x12, 0x10}

type publisher struct {
	c       *rtmp.Client
	o       options
	bytes   atomic.Int64 // media payload bytes written
	frames  atomic.Int64
	maxLag  atomic.Int64 // worst lateness against the schedule, ns
	progLag atomic.Int64 // the same since the last progress line
	err     atomic.Pointer[error]
	done    chan struct{}
	stop    chan struct{}
	keyLen  int
	intLen  int
}

func newPublisher(o options) *publisher {
	p := &publisher{o: o, done: make(chan struct{}), stop: make(chan struct{})}
	audioBps := float64(audioRate) / audioSamples * (2 + audioBody)
	videoBps := o.bitrate/8 - audioBps
	perGOP := videoBps * float64(o.gop) / float64(o.fps)
	inter := perGOP / float64(o.gop+9) // keyframe = 10 inter frames
	p.intLen = max(int(inter), videoHdr+videoMeta)
	p.keyLen = max(int(10*inter), videoHdr+videoMeta)
	return p
}

func (p *publisher) fail(err error) {
	p.err.CompareAndSwap(nil, &err)
}

func (p *publisher) Err() error {
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *publisher) write(kind remux.Kind, ts uint32, payload []byte) error {
	m := remux.NewMessage(kind, ts, payload)
	p.c.SetWriteDeadline(time.Now().Add(p.o.timeout))
	err := p.c.WriteMedia(m)
	m.Release()
	if err == nil {
		p.bytes.Add(int64(len(payload)))
	}
	return err
}

// run paces media on an absolute schedule from t0; when late it catches up
// rather than drifting, and records the worst lateness.
func (p *publisher) run() {
	defer close(p.done)
	key := make([]byte, p.keyLen)
	inter := make([]byte, p.intLen)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range inter {
		inter[i] = byte(i)
	}
	copy(key, []byte{0x17, 0x01, 0, 0, 0})
	copy(inter, []byte{0x27, 0x01, 0, 0, 0})
	audio := make([]byte, 2+audioBody)
	for i := range audio {
		audio[i] = byte(i * 7)
	}
	audio[0], audio[1] = 0xAF, 0x01

	if err := p.write(remux.KindVideo, 0, avcSeqHeader); err != nil {
		p.fail(err)
		return
	}
	if err := p.write(remux.KindAudio, 0, aacSeqHeader); err != nil {
		p.fail(err)
		return
	}
	t0 := time.Now()
	frameDur := time.Second / time.Duration(p.o.fps)
	var vi, ai int64
	for {
		vAt := time.Duration(vi) * frameDur
		aAt := time.Duration(ai) * time.Second * audioSamples / audioRate
		at := min(vAt, aAt)
		if d := time.Until(t0.Add(at)); d > 0 {
			select {
			case <-p.stop:
				return
			case <-time.After(d):
			}
		} else {
			select {
			case <-p.stop:
				return
			default:
			}
			if lag := int64(-d); lag > p.maxLag.Load() {
				p.maxLag.Store(lag)
			}
			if lag := int64(-d); lag > p.progLag.Load() {
				p.progLag.Store(lag)
			}
		}
		var err error
		ts := uint32(at / time.Millisecond)
		if vAt <= aAt {
			buf := inter
			if vi%int64(p.o.gop) == 0 {
				buf = key
			}
			binary.BigEndian.PutUint64(buf[videoHdr+8:], uint64(vi))
			binary.BigEndian.PutUint64(buf[videoHdr:], uint64(time.Now().UnixNano()))
			err = p.write(remux.KindVideo, ts, buf)
			vi++
			p.frames.Store(vi)
		} else {
			err = p.write(remux.KindAudio, ts, audio)
			ai++
		}
		if err != nil {
			select {
			case <-p.stop:
			default:
				p.fail(err)
			}
			return
		}
	}
}

// shutdown stops the publisher and closes its connection; idempotent.
func (p *publisher) shutdown() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.c.NetConn().Close() // unblocks a stuck write
	<-p.done
	p.c.Close()
}

// publishers are the running publishers, one per stream.
type publishers []*publisher

func (ps publishers) stop() {
	for _, p := range ps {
		p.shutdown()
	}
}

// Err is the first publisher's failure, if any.
func (ps publishers) Err() error {
	for _, p := range ps {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (ps publishers) frames() (n int64) {
	for _, p := range ps {
		n += p.frames.Load()
	}
	return n
}

// maxLagNs is the worst lateness of any publisher since the last reset.
func (ps publishers) maxLagNs() (m int64) {
	for _, p := range ps {
		m = max(m, p.maxLag.Load())
	}
	return m
}

func (ps publishers) swapProgLag() (m int64) {
	for _, p := range ps {
		m = max(m, p.progLag.Swap(0))
	}
	return m
}

// streamURL is the URL of stream i of n: the URL itself when n is 1, else
// the stream name with i+1 appended (before any ?query).
func streamURL(url string, i, n int) string {
	if n == 1 {
		return url
	}
	base, query, _ := strings.Cut(url, "?")
	u := base + strconv.Itoa(i+1)
	if query != "" {
		u += "?" + query
	}
	return u
}

// ---------------------------------------------------------------------------
// Players

const (
	phaseWarm    = 0
	phaseMeasure = 1
	phaseDone    = 2
)

// progress aggregates every received video message for the -progress log.
type progress struct {
	latSum atomic.Int64 // µs
	latN   atomic.Int64
	latMax atomic.Int64 // µs
	bytes  atomic.Int64
}

func (pr *progress) add(us int64) {
	pr.latSum.Add(us)
	pr.latN.Add(1)
	for {
		m := pr.latMax.Load()
		if us <= m || pr.latMax.CompareAndSwap(m, us) {
			return
		}
	}
}

type player struct {
	c        *rtmp.Client
	bytes    atomic.Int64
	died     atomic.Bool // connection lost before the end of the window
	err      error       // set by the goroutine before it exits
	lat      []int32     // µs, video messages received in the window; owned by the goroutine
	latKey   []int32     // µs, the keyframes among them
	lost     int64       // video frames missing in the window (frame number gaps)
	maxGapUs int64       // longest time between two video messages in the window
	nVideo   int64
	playAt   time.Time // when NetStream.Play.Start arrived
	firstKey int64     // µs from playAt to the first video keyframe; -1 = none yet
}

func (pl *player) read(phase *atomic.Int32, pr *progress, wg *sync.WaitGroup) {
	defer wg.Done()
	defer pl.c.Close()
	var last int64 = -1
	var lastAt time.Time
	for {
		m, err := pl.c.ReadMedia()
		if err != nil {
			if phase.Load() != phaseDone {
				pl.died.Store(true)
				pl.err = err
			}
			return
		}
		now := time.Now()
		pl.bytes.Add(int64(len(m.Payload)))
		pr.bytes.Add(int64(len(m.Payload)))
		b := m.Payload
		if m.Kind == remux.KindVideo && len(b) >= videoHdr+videoMeta && b[1] == 0x01 {
			if pl.firstKey < 0 && b[0]>>4 == 1 {
				pl.firstKey = now.Sub(pl.playAt).Microseconds()
			}
			sent := int64(binary.BigEndian.Uint64(b[videoHdr:]))
			frame := int64(binary.BigEndian.Uint64(b[videoHdr+8:]))
			pr.add((now.UnixNano() - sent) / 1000)
			if phase.Load() == phaseMeasure {
				us := (now.UnixNano() - sent) / 1000
				pl.lat = append(pl.lat, int32(min(us, 1<<31-1)))
				if b[0]>>4 == 1 {
					pl.latKey = append(pl.latKey, int32(min(us, 1<<31-1)))
				}
				pl.nVideo++
				if last >= 0 && frame > last+1 {
					pl.lost += frame - last - 1
				}
				if !lastAt.IsZero() {
					if g := now.Sub(lastAt).Microseconds(); g > pl.maxGapUs {
						pl.maxGapUs = g
					}
				}
			}
			last, lastAt = frame, now
		}
		m.Release()
	}
}

// ---------------------------------------------------------------------------
// /proc sampling

const clkTck = 100 // USER_HZ on Linux

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// procLastCPU returns the CPU pid last ran on (/proc/PID/stat field 39), or -1.
func procLastCPU(pid string) int {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 37 {
		return -1
	}
	n, err := strconv.Atoi(f[36])
	if err != nil {
		return -1
	}
	return n
}

// procStatus returns a "kB" field of /proc/PID/status in bytes.
func procStatus(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			n, err := strconv.ParseInt(v, 10, 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, key)
}

// runDelay sums, over the threads of pid ("self" allowed), the time spent
// runnable but waiting for a CPU (/proc/PID/task/*/schedstat, 2nd field).
// It shows how much other load on the same cores held the process back.
// Threads that exited in between are not counted.
func runDelay(pid string) time.Duration {
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}

// cpuTimes returns busy and total jiffies per CPU from /proc/stat.
func cpuTimes() (busy, total []int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, nil
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		// user nice system idle iowait irq softirq steal
		idle := v[3] + v[4]
		all := v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]
		busy = append(busy, all-idle)
		total = append(total, all)
	}
	return busy, total
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssSampler tracks the server's peak VmRSS.
type rssSampler struct {
	pid  int
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() int64 {
	v, err := procStatus(s.pid, "VmRSS")
	if err != nil {
		return 0
	}
	for {
		p := s.peak.Load()
		if v <= p || s.peak.CompareAndSwap(p, v) {
			return v
		}
	}
}

func (s *rssSampler) Stop() {
	close(s.stop)
	<-s.done
}

// ---------------------------------------------------------------------------

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s loadtest: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func loadtest(o options) int {
	ctx := context.Background()
	pool := remux.NewPool()
	cfg := rtmp.ClientConfig{Timeout: o.timeout, Pool: pool}

	havePID := o.serverPID > 0
	var rss *rssSampler
	var rssBefore int64
	if havePID {
		if _, err := procCPU(o.serverPID); err != nil {
			logf("server pid %d: %v", o.serverPID, err)
			return 1
		}
		rss = startRSSSampler(o.serverPID)
		defer rss.Stop()
		rssBefore = rss.sample()
	}

	// Publishers, one per stream.
	pubs := make(publishers, 0, o.streams)
	defer pubs.stop()
	for i := range o.streams {
		u := streamURL(o.url, i, o.streams)
		pub := newPublisher(o)
		pc, name, err := rtmp.Dial(ctx, u, cfg)
		if err != nil {
			logf("publisher %s: %v", u, err)
			return 1
		}
		if err := pc.Publish(ctx, name); err != nil {
			pc.Close()
			logf("publisher %s: %v", u, err)
			return 1
		}
		pub.c = pc
		pubs = append(pubs, pub)
		go pub.run()
	}
	pub := pubs[0]
	logf("publishing %d stream(s) %s: %.0f kbit/s target each, keyframe %d B, inter frame %d B, audio %d B at %.1f/s, %d fps, GOP %d",
		o.streams, streamURL(o.url, 0, o.streams), o.bitrate/1e3, pub.keyLen, pub.intLen, 2+audioBody, float64(audioRate)/audioSamples, o.fps, o.gop)

	time.Sleep(o.settle)
	if err := pubs.Err(); err != nil {
		logf("publisher failed while settling: %v", err)
		return 1
	}
	var rssIdle int64
	if havePID {
		rssIdle = rss.sample()
		logf("server RSS: %.1f MiB before publishing, %.1f MiB idle with the publisher (baseline)", mib(rssBefore), mib(rssIdle))
	}

	// Players, at a controlled ramp.
	var phase atomic.Int32
	var prog progress
	var connected atomic.Int64
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if o.progress <= 0 {
			return
		}
		t := time.NewTicker(o.progress)
		defer t.Stop()
		last, lastCPU, lastSrv, lastWait := time.Now(), selfCPU(), time.Duration(0), time.Duration(0)
		if havePID {
			lastSrv, _ = procCPU(o.serverPID)
			lastWait = runDelay(strconv.Itoa(o.serverPID))
		}
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
			}
			now, cpu := time.Now(), selfCPU()
			dt := now.Sub(last).Seconds()
			n, sum, mx, by := prog.latN.Swap(0), prog.latSum.Swap(0), prog.latMax.Swap(0), prog.bytes.Swap(0)
			avg := 0.0
			if n > 0 {
				avg = float64(sum) / float64(n) / 1e3
			}
			srv := "-"
			if havePID {
				if c, err := procCPU(o.serverPID); err == nil {
					w := runDelay(strconv.Itoa(o.serverPID))
					srv = fmt.Sprintf("%.0f%% (run-queue wait %.0f ms/s)", (c-lastSrv).Seconds()/dt*100, (w-lastWait).Seconds()/dt*1000)
					lastSrv, lastWait = c, w
				}
			}
			logf("progress: %d players, %.3f Gbit/s, video latency avg %.1f ms max %.1f ms, publisher lag max %.1f ms, server CPU %s, tool CPU %.0f%%",
				connected.Load(), float64(by)*8/dt/1e9, avg, float64(mx)/1e3, float64(pubs.swapProgLag())/1e6, srv, (cpu-lastCPU).Seconds()/dt*100)
			last, lastCPU = now, cpu
		}
	}()
	defer func() {
		close(stopProgress)
		<-progressDone
	}()
	total := o.players * o.streams
	players := make([]*player, total)
	var readers sync.WaitGroup
	var setup sync.WaitGroup
	var setupFailed atomic.Int64
	var firstSetupErr atomic.Pointer[error]
	rampStart := time.Now()
	for i := range players {
		at := rampStart.Add(time.Duration(float64(i) / o.ramp * float64(time.Second)))
		time.Sleep(time.Until(at))
		setup.Add(1)
		go func() {
			defer setup.Done()
			c, name, err := rtmp.Dial(ctx, streamURL(o.url, i%o.streams, o.streams), cfg)
			if err == nil {
				if err = c.Play(ctx, name); err != nil {
					c.Close()
				}
			}
			if err != nil {
				setupFailed.Add(1)
				err = fmt.Errorf("player %d: %w", i, err)
				firstSetupErr.CompareAndSwap(nil, &err)
				return
			}
			pl := &player{c: c, playAt: time.Now(), firstKey: -1}
			connected.Add(1)
			players[i] = pl
			readers.Add(1)
			go pl.read(&phase, &prog, &readers)
		}()
	}
	setup.Wait()
	rampTook := time.Since(rampStart)
	closePlayers := func() bool {
		phase.Store(phaseDone)
		for _, pl := range players {
			if pl != nil {
				pl.c.NetConn().Close() // the reader goroutine closes the client
			}
		}
		ch := make(chan struct{})
		go func() { readers.Wait(); close(ch) }()
		select {
		case <-ch:
			return true
		case <-time.After(10 * time.Second):
			logf("players did not stop within 10s")
			return false
		}
	}
	if n := setupFailed.Load(); n > 0 {
		logf("%d of %d players failed to connect; first: %v", n, total, *firstSetupErr.Load())
		closePlayers()
		return 1
	}
	logf("%d players connected in %v (%.0f/s)", total, rampTook.Round(time.Millisecond), float64(total)/rampTook.Seconds())

	time.Sleep(o.warmup)

	// Measured window.
	type snap struct {
		at       time.Time
		srvWait  time.Duration
		toolWait time.Duration
		cpuBusy  []int64
		cpuTotal []int64
		pub      []int64 // per stream
		players  []int64
		srvCPU   time.Duration
		toolCPU  time.Duration
		pubFrame int64
	}
	take := func() snap {
		s := snap{at: time.Now(), pubFrame: pubs.frames(), players: make([]int64, len(players)), toolCPU: selfCPU()}
		for _, p := range pubs {
			s.pub = append(s.pub, p.bytes.Load())
		}
		for i, pl := range players {
			s.players[i] = pl.bytes.Load()
		}
		s.toolWait = runDelay("self")
		s.cpuBusy, s.cpuTotal = cpuTimes()
		if havePID {
			s.srvCPU, _ = procCPU(o.serverPID)
			s.srvWait = runDelay(strconv.Itoa(o.serverPID))
		}
		return s
	}
	for _, p := range pubs {
		p.maxLag.Store(0)
	}
	diedBefore := 0
	for _, pl := range players {
		if pl.died.Load() {
			diedBefore++
		}
	}
	start := take()
	phase.Store(phaseMeasure)
	logf("window open for %v", o.duration)
	time.Sleep(o.duration)
	phase.Store(phaseWarm) // stop recording latency; not yet "done" so disconnects still count
	end := take()
	var rssEnd int64
	if havePID {
		rssEnd = rss.sample()
	}
	diedIn := make([]bool, len(players))
	for i, pl := range players {
		diedIn[i] = pl.died.Load()
	}
	pubErr := pubs.Err()
	pubMaxLag := time.Duration(pubs.maxLagNs())
	pubs.stop()
	if !closePlayers() {
		return 1
	}

	// Results.
	win := end.at.Sub(start.at).Seconds()
	// Per stream: each player is held against its own stream's rate.
	streamBps := make([]float64, len(pubs))
	pubBps := 0.0
	for i := range pubs {
		streamBps[i] = float64(end.pub[i]-start.pub[i]) * 8 / win
		pubBps += streamBps[i] / float64(len(pubs))
	}
	rates := make([]float64, len(players))
	var delivered int64
	behind, disconnected := 0, 0
	var lats, latsKey []int32
	var lost, nVideo, maxGapUs int64
	errCounts := map[string]int{}
	for i, pl := range players {
		d := end.players[i] - start.players[i]
		delivered += d
		rates[i] = float64(d) * 8 / win
		if diedIn[i] {
			disconnected++
			errCounts[errClass(pl.err)]++
		}
		if diedIn[i] || rates[i] < o.behindPct/100*streamBps[i%len(pubs)] {
			behind++
		}
		lats = append(lats, pl.lat...)
		latsKey = append(latsKey, pl.latKey...)
		lost += pl.lost
		nVideo += pl.nVideo
		maxGapUs = max(maxGapUs, pl.maxGapUs)
	}
	slices.Sort(rates)
	slices.Sort(lats)
	slices.Sort(latsKey)
	// Time to the first keyframe, from NetStream.Play.Start: what the GOP
	// cache saves a joining player.
	var firstKeys []int32
	for _, pl := range players {
		if pl != nil && pl.firstKey >= 0 {
			firstKeys = append(firstKeys, int32(min(pl.firstKey, 1<<31-1)))
		}
	}
	slices.Sort(firstKeys)
	deliveredGbps := float64(delivered) * 8 / win / 1e9
	toolCPU := (end.toolCPU - start.toolCPU).Seconds() / win * 100

	logf("window %.2fs: published %.3f Mbit/s (%d frames), delivered %.3f Gbit/s, %d video msgs, %d frames lost, max gap %.1f ms, publisher max lag %v, load tool CPU %.0f%% of a core (GOMAXPROCS %d)",
		win, pubBps/1e6, end.pubFrame-start.pubFrame, deliveredGbps, nVideo, lost, float64(maxGapUs)/1e3, pubMaxLag.Round(time.Microsecond), toolCPU, runtime.GOMAXPROCS(0))
	logf("latency ms p50/p90/p99/p99.9/max: all video %s/%s/%s/%s/%s; keyframes only (%d) %s/%s/%s/%s/%s",
		ms(lats, 0.5), ms(lats, 0.9), ms(lats, 0.99), ms(lats, 0.999), ms(lats, 1), len(latsKey),
		ms(latsKey, 0.5), ms(latsKey, 0.9), ms(latsKey, 0.99), ms(latsKey, 0.999), ms(latsKey, 1))
	logf("first keyframe after Play.Start ms p50/p99/max (%d players): %s/%s/%s", len(firstKeys), ms(firstKeys, 0.5), ms(firstKeys, 0.99), ms(firstKeys, 1))
	if diedBefore > 0 {
		logf("%d players had already disconnected before the window", diedBefore)
	}
	for e, n := range errCounts {
		logf("%d players disconnected: %s", n, e)
	}
	if pubErr != nil {
		logf("publisher failed: %v", pubErr)
	}
	var cpus []string
	busyPct := func(i int) float64 {
		if i < 0 || i >= min(len(end.cpuBusy), len(start.cpuBusy)) {
			return -1
		}
		dt := end.cpuTotal[i] - start.cpuTotal[i]
		if dt <= 0 {
			return -1
		}
		return float64(end.cpuBusy[i]-start.cpuBusy[i]) / float64(dt) * 100
	}
	for i := range min(len(end.cpuBusy), len(start.cpuBusy)) {
		cpus = append(cpus, fmt.Sprintf("cpu%d %.0f%%", i, busyPct(i)))
	}
	// Other load on a core: its busy time minus what our process used there.
	// Only meaningful when the process is pinned to that one core (taskset).
	otherLoad := func(core int, own float64) string {
		b := busyPct(core)
		if b < 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f%%", max(0, b-own))
	}
	toolCore := procLastCPU("self")
	srvWait := (end.srvWait - start.srvWait).Seconds() / win * 1000
	toolWait := (end.toolWait - start.toolWait).Seconds() / win * 1000
	logf("interference: busy over the window %s (all processes); run-queue wait per second: server %.1f ms, tool %.1f ms", strings.Join(cpus, ", "), srvWait, toolWait)
	if toolCPU > 90 {
		logf("WARNING: the load tool used %.0f%% of a core; latency and delivery may be limited by the tool", toolCPU)
	}

	cpuCol, effCol, rssCol, perPlayerCol, bgSrv := "-", "-", "-", "-", "-"
	bgTool := otherLoad(toolCore, toolCPU)
	if havePID {
		srv := (end.srvCPU - start.srvCPU).Seconds()
		cpuCol = fmt.Sprintf("%.2f s (%.0f%%)", srv, srv/win*100)
		srvCore := procLastCPU(strconv.Itoa(o.serverPID))
		bgSrv = fmt.Sprintf("cpu%d %s", srvCore, otherLoad(srvCore, srv/win*100))
		if deliveredGbps > 0 {
			effCol = fmt.Sprintf("%.3f", srv/(deliveredGbps*win))
		}
		rssCol = fmt.Sprintf("%.1f / %.1f", mib(rssEnd), mib(rss.peak.Load()))
		if total > 0 {
			perPlayerCol = fmt.Sprintf("%.1f", float64(rssEnd-rssIdle)/float64(total)/1024)
		}
		logf("server: CPU %s over the window, RSS idle %.1f MiB, end %.1f MiB, peak %.1f MiB (VmHWM %s)",
			cpuCol, mib(rssIdle), mib(rssEnd), mib(rss.peak.Load()), hwm(o.serverPID))
	}
	if o.header {
		fmt.Println("| server | players (streams × per stream) | published Mbit/s per stream | per-player min / p50 Mbit/s | players behind (disconnected) | latency p50 / p99 / max ms | frames lost | delivered Gbit/s | server CPU in window | server CPU-s per Gbit delivered | server RSS end / peak MiB | RSS per player KiB | publisher max lag ms | load tool CPU | other load on server core / tool core | first keyframe p50 / p99 ms |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	}
	playersCol := strconv.Itoa(total)
	if o.streams > 1 {
		playersCol = fmt.Sprintf("%d × %d", o.streams, o.players)
	}
	fmt.Printf("| %s | %s | %.3f | %s / %s | %d (%d) | %s / %s / %s | %d | %.3f | %s | %s | %s | %s | %.1f | %.0f%% | %s / cpu%d %s | %s / %s |\n",
		o.label, playersCol, pubBps/1e6,
		mbit(rates, 0), mbit(rates, 0.5),
		behind, disconnected,
		ms(lats, 0.5), ms(lats, 0.99), ms(lats, 1),
		lost, deliveredGbps, cpuCol, effCol, rssCol, perPlayerCol, float64(pubMaxLag)/1e6, toolCPU, bgSrv, toolCore, bgTool, ms(firstKeys, 0.5), ms(firstKeys, 0.99))
	if pubErr != nil {
		return 1
	}
	return 0
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "unknown"
	case errors.Is(err, rtmp.ErrStreamEnded):
		return "stream ended (server sent Play.Stop / UnpublishNotify)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF (server closed the connection)"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return err.Error()
}

func hwm(pid int) string {
	v, err := procStatus(pid, "VmHWM")
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", mib(v))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func quantile[T any](sorted []T, q float64) (T, bool) {
	var zero T
	if len(sorted) == 0 {
		return zero, false
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i], true
}

func mbit(sorted []float64, q float64) string {
	v, ok := quantile(sorted, q)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.3f", v/1e6)
}

func ms(sorted []int32, q float64) string {
	v, ok := quantile(sorted, q)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(v)/1e3)
}
