//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// One sample of the soaked process: what the kernel says of it (/proc),
// what Go says (pprof), and what the appliance says (/metrics).

type soakSample struct {
	at         time.Duration // since the soak started
	rssKiB     int64
	goroutines int
	fds        int
	conns      float64 // tapedeck_rtmp_connections
	streams    float64 // tapedeck_streams
	writeErrs  float64 // tapedeck_recording_write_errors
	relayUp    float64 // tapedeck_relay_up of the push to nginx
	reconnects float64 // tapedeck_relay_reconnects_total of that push
	opened     int     // segments opened so far (log)
	closed     int     // segments closed so far (log)
	deleted    int     // segments deleted by retention so far (log)
	onDisk     int     // segment files in storage now
	diskMiB    float64 // their bytes
	sessions   int64   // player sessions ended so far
	playerErrs int64   // player sessions that failed to start or stalled
}

// takeSample reads the process pid and the API at api (http://host:port).
func takeSample(pid int, api string) (soakSample, error) {
	var s soakSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			s.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	prof, err := soakGet(api + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	first, _, _ := strings.Cut(prof, "\n")
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &s.goroutines); err != nil {
		return s, fmt.Errorf("goroutine profile starts %q: %v", first, err)
	}
	metrics, err := soakGet(api + "/metrics")
	if err != nil {
		return s, err
	}
	s.conns = metricValue(metrics, "tapedeck_rtmp_connections")
	s.streams = metricValue(metrics, "tapedeck_streams")
	s.writeErrs = metricValue(metrics, "tapedeck_recording_write_errors")
	s.relayUp = labelledMetric(metrics, "tapedeck_relay_up")
	s.reconnects = labelledMetric(metrics, "tapedeck_relay_reconnects_total")
	return s, nil
}

// labelledMetric is the value of the first sample of a labelled family
// (the soak has one push target), -1 when there is none.
func labelledMetric(text, name string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+"{") {
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				v, err := strconv.ParseFloat(l[i+1:], 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// soakGet is one GET under a short deadline: a sample must not hang the
// soak.
func soakGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

func (s soakSample) String() string {
	return fmt.Sprintf("t=%s rss=%.1fMiB goroutines=%d fds=%d conns=%.0f streams=%.0f relay_up=%.0f reconnects=%.0f "+
		"segments opened=%d closed=%d deleted=%d on_disk=%d (%.0f MiB) write_errors=%.0f player sessions=%d failed=%d",
		soakClock(s.at), float64(s.rssKiB)/1024, s.goroutines, s.fds, s.conns, s.streams, s.relayUp, s.reconnects,
		s.opened, s.closed, s.deleted, s.onDisk, s.diskMiB, s.writeErrs, s.sessions, s.playerErrs)
}

// soakClock formats an offset as h:mm:ss.
func soakClock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// soakTable is the samples as a Markdown table for the README.
func soakTable(samples []soakSample) string {
	var b strings.Builder
	b.WriteString("| t | RSS | goroutines | open files | segments closed | deleted by retention | on disk |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %s | %.1f MiB | %d | %d | %d | %d | %d (%.0f MiB) |\n",
			soakClock(s.at), float64(s.rssKiB)/1024, s.goroutines, s.fds, s.closed, s.deleted, s.onDisk, s.diskMiB)
	}
	return b.String()
}
