//go:build linux

package e2e

// Issue 15 against the built binary: each subtest replays one attack on
// a tapedeck of its own and asserts the fix.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHardening(t *testing.T) {
	bin := tapedeckBinary(t)
	t.Run("empty config on reload keeps keys and token", func(t *testing.T) { t.Parallel(); hardEmptyReload(t, bin) })
	t.Run("2000 idle connections from one address", func(t *testing.T) { t.Parallel(); hardIdleFlood(t, bin) })
	t.Run("cross-origin and trickling API requests", func(t *testing.T) { t.Parallel(); hardHTTP(t, bin) })
	t.Run("10 KB stream name", func(t *testing.T) { t.Parallel(); hardLongName(t, bin) })
}

// `: > tapedeck.yaml` (or a cut-off save) while the box runs: the 2 s
// file poll sees it, refuses it, and the token and keys stay in force.
func hardEmptyReload(t *testing.T, bin string) {
	p := hardStart(t, bin, `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
  token: t0ken
storage:
  dir: "{storage}"
apps:
  live:
    publish:
      keys: [s3cret]
`)
	api := "http://" + p.httpAddr + "/api/v1/streams"
	bearer := map[string]string{"Authorization": "Bearer t0ken"}
	if err := os.WriteFile(p.cfgPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hardWaitLog(t, p, "reload refused; keeping the running config", 10*time.Second)
	if !strings.Contains(p.logs.String(), "the file is empty: refused") {
		t.Errorf("the refusal does not say the file is empty")
	}
	if code, _ := hardRequest(t, "GET", api, nil, ""); code != 401 {
		t.Errorf("API without the token after the empty reload: %d, want 401", code)
	}
	if code, _ := hardRequest(t, "GET", api, bearer, ""); code != 200 {
		t.Errorf("API with the token after the empty reload: %d, want 200", code)
	}
	rtmpURL := "rtmp://" + p.rtmpAddr + "/live/cam1"
	if out, err := hardRun(t, 20*time.Second, "ffmpeg", hardPublisherArgs(rtmpURL, 1)...); err == nil {
		t.Errorf("publish without the key accepted after the empty reload:\n%s", out)
	}
	if out, err := hardRun(t, 20*time.Second, "ffmpeg", hardPublisherArgs(rtmpURL+"?key=s3cret", 1)...); err != nil {
		t.Errorf("publish with the key refused after the empty reload: %v\n%s", err, out)
	}
	// `tapedeck check` says so too.
	out, err := exec.Command(bin, "check", "-c", p.cfgPath).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "the file is empty: refused") {
		t.Errorf("tapedeck check of the empty file: %v\n%s", err, out)
	}
}

// 2000 connections from 127.0.0.2 that finish the handshake and then
// only send Window Ack Size: the address gets max_connections_per_ip
// slots, those are dropped after command_timeout whatever they send,
// the refusals make one log line, and a player from 127.0.0.1 plays at
// once.
func hardIdleFlood(t *testing.T, bin string) {
	p := hardStart(t, bin, `rtmp:
  listen: "{rtmp}"
  limits:
    max_connections: 2000
    max_connections_per_ip: 200
    command_timeout: 3s
http:
  listen: "{http}"
storage:
  dir: "{storage}"
apps:
  live: {}
`)
	streamURL := "rtmp://" + p.rtmpAddr + "/live/cam1"
	hardStartTool(t, "ffmpeg", hardPublisherArgs(streamURL, 40)...)
	hardWaitPublishing(t, p, "live/cam1", nil)

	const flood = 2000
	var (
		mu         sync.Mutex
		held       []net.Conn
		handshaked atomic.Int32
		wg         sync.WaitGroup
	)
	sem := make(chan struct{}, 100)
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	floodStart := time.Now()
	for range flood {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := dialer.Dial("tcp", p.rtmpAddr)
			if err != nil {
				return
			}
			if hardHandshake(nc) != nil {
				nc.Close()
				return
			}
			handshaked.Add(1)
			mu.Lock()
			held = append(held, nc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, nc := range held {
			nc.Close()
		}
	})
	if n := handshaked.Load(); n == 0 || n > 200 {
		t.Errorf("%d of %d connections from one address finished the handshake, want 1..200", n, flood)
	}
	// The flooders keep sending control messages.
	stopChatter := make(chan struct{})
	defer close(stopChatter)
	go func() {
		for {
			for _, nc := range held {
				nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				nc.Write(hardWindowAck)
			}
			select {
			case <-stopChatter:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	// A legitimate player from another address gets the stream at once.
	start := time.Now()
	out, err := hardRun(t, 5*time.Second, "ffprobe", "-v", "error", "-analyzeduration", "1000000", "-show_entries", "stream=codec_name", "-of", "csv=p=0", streamURL)
	if err != nil || !strings.Contains(out, "h264") {
		t.Errorf("ffprobe during the flood: %v after %v\n%s", err, time.Since(start), out)
	}
	t.Logf("flood: %d handshaked of %d; ffprobe took %v", handshaked.Load(), flood, time.Since(start).Round(time.Millisecond))

	// The handshaked flooders are dropped after command_timeout (3s)
	// although they keep chatting.
	dropped := 0
	for _, nc := range held {
		nc.SetReadDeadline(floodStart.Add(10 * time.Second))
		r := bufio.NewReader(nc)
		for {
			if _, err := r.ReadByte(); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					dropped++
				}
				break
			}
		}
	}
	if dropped != len(held) {
		t.Errorf("%d of %d idle handshaked connections dropped within 10s, want all", dropped, len(held))
	}
	if n := strings.Count(p.logs.String(), "rtmp connections refused"); n != 1 {
		t.Errorf("%d log lines about refused connections, want 1 for one address in one minute", n)
	}
	if !strings.Contains(p.logs.String(), "no connect within 3s") {
		t.Errorf("the log does not say why the idle connections were dropped")
	}
}

// No http.token: a web page's cross-origin text/plain POST (which a
// browser sends without a preflight) is refused and changes nothing, and
// request bodies that trickle are cut off.
func hardHTTP(t *testing.T, bin string) {
	p := hardStart(t, bin, `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
  max_connections: 64
storage:
  dir: "{storage}"
apps:
  live: {}
`)
	base := "http://" + p.httpAddr
	hardStartTool(t, "ffmpeg", hardPublisherArgs("rtmp://"+p.rtmpAddr+"/live/cam1", 30)...)
	hardWaitPublishing(t, p, "live/cam1", nil)

	evil := map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}
	if code, body := hardRequest(t, "POST", base+"/api/v1/streams/live/cam1/push", evil, `{"url":"rtmp://203.0.113.7/live/x"}`); code != 403 {
		t.Errorf("cross-origin text/plain push: %d %s, want 403", code, body)
	}
	if code, body := hardRequest(t, "POST", base+"/api/v1/streams/live/cam1/kick", evil, ""); code != 403 {
		t.Errorf("cross-origin kick: %d %s, want 403", code, body)
	}
	if code, body := hardRequest(t, "POST", base+"/api/v1/streams/live/cam1/push", map[string]string{"Content-Type": "text/plain"}, `{"url":"rtmp://8.8.8.8/live/x"}`); code != 415 {
		t.Errorf("text/plain push from loopback: %d %s, want 415", code, body)
	}
	// Through the API the box does not dial into its own network.
	json := map[string]string{"Content-Type": "application/json"}
	if code, body := hardRequest(t, "POST", base+"/api/v1/streams/live/cam1/push", json, `{"url":"rtmp://127.0.0.1:`+strings.Split(p.httpAddr, ":")[1]+`/live/x"}`); code != 403 || !strings.Contains(body, "loopback") {
		t.Errorf("push to a loopback port: %d %s, want 403 naming loopback", code, body)
	}
	code, body := hardRequest(t, "GET", base+"/api/v1/streams/live/cam1", nil, "")
	if code != 200 || !strings.Contains(body, `"publishing": true`) || strings.Contains(body, "relays") {
		t.Errorf("after the refused requests the stream is %d %s; want it publishing without relays", code, body)
	}

	// 20 bodies trickling a byte a second are cut off after the body
	// timeout (5s), and the API keeps answering meanwhile.
	const tricklers = 20
	closed := make(chan time.Duration, tricklers)
	start := time.Now()
	for range tricklers {
		go func() {
			nc, err := net.Dial("tcp", p.httpAddr)
			if err != nil {
				closed <- -1
				return
			}
			defer nc.Close()
			fmt.Fprintf(nc, "POST /api/v1/streams/live/cam1/push HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", p.httpAddr)
			go func() {
				for {
					if _, err := nc.Write([]byte(" ")); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}()
			nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := nc.Read(buf); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
	}
	time.Sleep(time.Second)
	if code, _ := hardRequest(t, "GET", base+"/healthz", nil, ""); code != 200 {
		t.Errorf("healthz during the trickle: %d", code)
	}
	for range tricklers {
		if d := <-closed; d < 0 || d > 9*time.Second {
			t.Errorf("a trickling request was closed after %v, want within about 5s", d)
		}
	}
}

// A 10 KB stream name is refused at publish and at play, and nothing is
// created on disk for it.
func hardLongName(t *testing.T, bin string) {
	p := hardStart(t, bin, `rtmp:
  listen: "{rtmp}"
http:
  listen: "{http}"
storage:
  dir: "{storage}"
apps:
  live:
    record:
      format: flv
`)
	name := strings.Repeat("n", 10<<10)
	app := "rtmp://" + p.rtmpAddr + "/live"
	// -rtmp_playpath passes the name whole; ffmpeg's URL parser would
	// cut it at 1 KB.
	if out, err := hardRun(t, 20*time.Second, "ffmpeg", hardPublisherArgs(app, 2, "-rtmp_playpath", name)...); err == nil {
		t.Errorf("publish of a 10 KB name accepted:\n%s", out)
	}
	hardWaitLog(t, p, "stream name of 10240 bytes, the limit is 255", 5*time.Second)
	if out, err := hardRun(t, 10*time.Second, "ffprobe", "-v", "error", "-rtmp_playpath", name, app); err == nil {
		t.Errorf("play of a 10 KB name accepted:\n%s", out)
	}
	hardWaitLog(t, p, "play refused", 5*time.Second)
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if len(line) > 2048 {
			t.Errorf("a log line of %d bytes carries the name: %.200s…", len(line), line)
		}
	}
	var made []string
	filepath.Walk(p.storage, func(path string, _ os.FileInfo, err error) error {
		if err == nil && path != p.storage {
			made = append(made, path)
		}
		return nil
	})
	if len(made) > 0 {
		t.Errorf("refused publish left %d entries in storage.dir: %.300q", len(made), made)
	}
}
