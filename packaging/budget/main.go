// Command budget measures tapedeck's resource budgets on this machine and
// prints them as a Markdown table:
//
//   - stripped binary size of every release target (from dist/, or built);
//   - start-up time: from exec to the RTMP port accepting a connection;
//   - idle resident memory (VmRSS 2 s after start);
//   - resident memory with one 2.5 Mbit/s 720p stream published by ffmpeg,
//     recorded (the package's config records every stream on "live") and
//     played by 10 ffmpeg players.
//
// The server runs the linux/amd64 release build with the config the .deb
// ships (storage and ports overridden through TAPEDECK_* variables).
//
//	go run ./packaging/budget                # after go run ./packaging/build
//	go run ./packaging/budget -players 10 -measure 20s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tapedeck/tapedeck/packaging"
)

var (
	distDir  = flag.String("dist", "dist", "directory with the release binaries (relative to the module root); built into a temporary directory when it has none")
	binFlag  = flag.String("bin", "", "linux/amd64 tapedeck binary to measure (default: the one in -dist)")
	starts   = flag.Int("starts", 20, "start-up runs")
	players  = flag.Int("players", 10, "ffmpeg players for the loaded measurement")
	bitrate  = flag.String("bitrate", "2500k", "publisher video bitrate")
	size     = flag.String("size", "1280x720", "publisher video size")
	warmup   = flag.Duration("warmup", 5*time.Second, "time between the players joining and the first sample")
	measure  = flag.Duration("measure", 20*time.Second, "loaded sampling window")
	withLoad = flag.Bool("load", true, "run the loaded measurement (needs ffmpeg with libx264)")
)

func main() {
	flag.Parse()
	if runtime.GOOS != "linux" {
		fail(errors.New("budget reads /proc: run it on Linux"))
	}
	wd, _ := os.Getwd()
	root, err := packaging.FindRoot(wd)
	if err != nil {
		fail(err)
	}
	dist := *distDir
	if !filepath.IsAbs(dist) {
		dist = filepath.Join(root, dist)
	}
	bins := findBinaries(dist)
	if len(bins) < len(packaging.Matrix) {
		tmp, err := os.MkdirTemp("", "tapedeck-budget-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(tmp)
		fmt.Fprintf(os.Stderr, "no complete release in %s: building the matrix into %s\n", dist, tmp)
		stamp := packaging.ResolveStamp(root, packaging.Stamp{})
		built, err := packaging.BuildBinaries(context.Background(), root, tmp, stamp, packaging.Matrix, 2, os.Stderr)
		if err != nil {
			fail(err)
		}
		bins = built
	}
	bin := *binFlag
	if bin == "" {
		bin = bins[packaging.Target{GOOS: "linux", GOARCH: "amd64"}]
	}
	version, _ := exec.Command(bin, "version").Output()
	loadavg, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("Measured %s on %s, %d CPUs, %s (load average %s).\n\n", strings.TrimSpace(string(version)), cpuModel(), runtime.NumCPU(),
		time.Now().UTC().Format("2006-01-02"), strings.Join(strings.Fields(string(loadavg))[:3], " "))

	fmt.Println("| target | stripped binary |")
	fmt.Println("|---|---|")
	for _, t := range packaging.Matrix {
		fi, err := os.Stat(bins[t])
		if err != nil {
			fail(err)
		}
		fmt.Printf("| %s | %.1f MiB (%d bytes) |\n", t, mb(fi.Size()), fi.Size())
	}
	fmt.Println()

	cfg, err := packageConfig(bin)
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(filepath.Dir(cfg))

	var startup []time.Duration
	for range *starts {
		s, err := start(bin, cfg)
		if err != nil {
			fail(err)
		}
		startup = append(startup, s.startup)
		s.stop()
	}
	sort.Slice(startup, func(i, j int) bool { return startup[i] < startup[j] })
	// What any exec costs here: /bin/true from exec to exit.
	var base []time.Duration
	for range *starts {
		t0 := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			fail(err)
		}
		base = append(base, time.Since(t0))
	}
	sort.Slice(base, func(i, j int) bool { return base[i] < base[j] })

	s, err := start(bin, cfg)
	if err != nil {
		fail(err)
	}
	time.Sleep(2 * time.Second)
	idle := s.rss()
	s.stop()

	fmt.Println("| budget | measured | aim |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| start-up to listening (linux/amd64, %d runs) | median %s, min %s, max %s (exec of /bin/true here: median %s) | < 100 ms |\n",
		len(startup), ms(startup[len(startup)/2]), ms(startup[0]), ms(startup[len(startup)-1]), ms(base[len(base)/2]))
	fmt.Printf("| idle RSS (VmRSS 2 s after start) | %.1f MiB | < 20 MB |\n", mb(idle))
	if *withLoad {
		r, err := loaded(bin, cfg)
		if err != nil {
			fail(err)
		}
		fmt.Printf("| RSS, one %s %s stream recorded + %d players | max %.1f MiB, mean %.1f MiB (VmHWM %.1f MiB) | — |\n", *bitrate, *size, *players, mb(r.maxRSS), mb(r.meanRSS), mb(r.hwm))
		fmt.Printf("| server CPU, same load | %.0f%% of one core | — |\n", r.cpu*100)
		fmt.Printf("\nLoaded run: %s in (measured by the server), %d players attached, %.1f MB recorded during the window.\n", bps(r.bitrateIn), r.playersSeen, float64(r.recorded)/1e6)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "budget:", err)
	os.Exit(1)
}

func findBinaries(dir string) map[packaging.Target]string {
	out := map[packaging.Target]string{}
	for _, t := range packaging.Matrix {
		suffix := "_" + strings.ReplaceAll(t.String(), "/", "_")
		if t.GOOS == "windows" {
			suffix += ".exe"
		}
		m, _ := filepath.Glob(filepath.Join(dir, "tapedeck_*"+suffix))
		if len(m) == 1 {
			out[t] = m[0]
		}
	}
	return out
}

// packageConfig writes the config the .deb ships.
func packageConfig(bin string) (string, error) {
	def, err := exec.Command(bin, "config").Output()
	if err != nil {
		return "", err
	}
	b, err := packaging.PackageConfig(def)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tapedeck-budget-cfg-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "tapedeck.yaml")
	return p, os.WriteFile(p, b, 0o644)
}

type proc struct {
	cmd     *exec.Cmd
	rtmp    string
	http    string
	storage string
	startup time.Duration
	log     bytes.Buffer
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs the server and returns once its RTMP port accepts.
func start(bin, cfg string) (*proc, error) {
	p := &proc{}
	var err error
	if p.rtmp, err = freeAddr(); err != nil {
		return nil, err
	}
	if p.http, err = freeAddr(); err != nil {
		return nil, err
	}
	if p.storage, err = os.MkdirTemp("", "tapedeck-budget-rec-"); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "run", "-c", cfg)
	p.cmd.Env = append(os.Environ(), "TAPEDECK_RTMP_LISTEN="+p.rtmp, "TAPEDECK_HTTP_LISTEN="+p.http, "TAPEDECK_STORAGE_DIR="+p.storage)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	for {
		c, err := net.DialTimeout("tcp", p.rtmp, 100*time.Millisecond)
		if err == nil {
			p.startup = time.Since(t0)
			c.Close()
			return p, nil
		}
		if time.Since(t0) > 10*time.Second {
			p.stop()
			return nil, fmt.Errorf("not listening on %s after 10 s:\n%s", p.rtmp, p.log.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.storage)
}

// status reads a kB field of /proc/PID/status, in bytes.
func (p *proc) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func (p *proc) rss() int64 { return p.status("VmRSS") }

// cpuTime is the process's user+system time.
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

type load struct {
	maxRSS, meanRSS, hwm int64
	cpu                  float64
	bitrateIn            float64
	playersSeen          int
	recorded             int64
}

func loaded(bin, cfg string) (*load, error) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, err
	}
	s, err := start(bin, cfg)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	url := "rtmp://" + s.rtmp + "/live/cam1"
	total := *warmup + *measure + 15*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), total+30*time.Second)
	defer cancel()
	pub := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+*size+":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(int(total.Seconds())),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p",
		"-b:v", *bitrate, "-maxrate", *bitrate, "-bufsize", *bitrate,
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", url)
	var pubLog bytes.Buffer
	pub.Stderr = &pubLog
	if err := pub.Start(); err != nil {
		return nil, err
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()
	if err := waitStream(s, func(m map[string]any) bool { return m["publishing"] == true }); err != nil {
		return nil, fmt.Errorf("%v\npublisher: %s\nserver: %s", err, pubLog.String(), s.log.String())
	}
	var ps []*exec.Cmd
	defer func() {
		for _, p := range ps {
			p.Process.Kill()
			p.Wait()
		}
	}()
	for range *players {
		p := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url, "-c", "copy", "-f", "null", "-")
		if err := p.Start(); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	var st map[string]any
	if err := waitStream(s, func(m map[string]any) bool { st = m; return num(m["players"]) >= float64(*players) }); err != nil {
		return nil, fmt.Errorf("%v (last %v)", err, st)
	}
	time.Sleep(*warmup)
	r := &load{playersSeen: int(num(st["players"]))}
	rec0 := recorded(s)
	cpu0, t0 := s.cpuTime(), time.Now()
	var sum, n int64
	for time.Since(t0) < *measure {
		time.Sleep(500 * time.Millisecond)
		v := s.rss()
		r.maxRSS = max(r.maxRSS, v)
		sum += v
		n++
	}
	r.cpu = float64(s.cpuTime()-cpu0) / float64(time.Since(t0))
	r.meanRSS = sum / n
	r.hwm = s.status("VmHWM")
	r.recorded = recorded(s) - rec0
	if m, err := streamInfo(s); err == nil {
		r.bitrateIn = num(m["bitrate_in_bps"])
		r.playersSeen = int(num(m["players"]))
	}
	return r, nil
}

func streamInfo(s *proc) (map[string]any, error) {
	resp, err := http.Get("http://" + s.http + "/api/v1/streams/live/cam1")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("API: %s", resp.Status)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func waitStream(s *proc, ok func(map[string]any) bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m, err := streamInfo(s); err == nil && ok(m) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("stream not in the expected state after 30 s")
}

// recorded is the bytes under the server's storage directory.
func recorded(s *proc) int64 {
	var n int64
	filepath.Walk(s.storage, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func bps(b float64) string { return fmt.Sprintf("%.2f Mbit/s", b/1e6) }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}
