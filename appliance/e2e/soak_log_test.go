//go:build linux

package e2e

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// soakLog is the soak's view of the binary's log, read line by line as it
// is written: a 2-hour debug log does not fit a buffer, and the segment
// accounting needs every line, not the first megabytes. It keeps the
// segments opened and closed (in order, per stream), the retention
// deletions, the first warnings and errors, and the last lines for a
// failure report.
type soakLog struct {
	mu      sync.Mutex
	partial []byte
	tail    []string             // the last tailLines lines
	opened  map[string]time.Time // path: the start its "segment opened" line gives
	closed  []soakSegment
	deleted int            // files retention reported deleted
	cuts    map[string]int // stream: "timestamp discontinuity" cuts
	warns   []string
	nwarns  int
}

// soakSegment is one "segment closed" line, with the time of its
// "segment opened" line (zero when that was not seen).
type soakSegment struct {
	stream, path string
	start        time.Time
	duration     time.Duration
	bytes        int64
}

const tailLines = 200

var (
	logPath     = regexp.MustCompile(`\bpath=("(?:[^"\\]|\\.)*"|\S+)`)
	logStream   = regexp.MustCompile(`\bstream=(\S+)`)
	logDuration = regexp.MustCompile(`\bduration=(\S+)`)
	logBytes    = regexp.MustCompile(`\bbytes=(\d+)`)
	logFiles    = regexp.MustCompile(`\bfiles=(\d+)`)
	logTime     = regexp.MustCompile(`\btime=(\S+)`)
	logStart    = regexp.MustCompile(`\bstart=(\S+)`)
)

func newSoakLog() *soakLog { return &soakLog{opened: map[string]time.Time{}, cuts: map[string]int{}} }

// Write takes the binary's stdout and stderr; it never fails, so the
// process is never held up by the test.
func (l *soakLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *soakLog) line(s string) {
	l.tail = append(l.tail, s)
	if len(l.tail) > tailLines {
		l.tail = l.tail[len(l.tail)-tailLines:]
	}
	field := func(re *regexp.Regexp) string {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return ""
		}
		if v, err := strconv.Unquote(m[1]); err == nil {
			return v
		}
		return m[1]
	}
	switch {
	case strings.Contains(s, `msg="segment opened"`):
		// The segment's start (its first frame's arrival) where the
		// line says it, else the line's time.
		at, err := time.Parse(time.RFC3339Nano, field(logStart))
		if err != nil {
			at, _ = time.Parse(time.RFC3339Nano, field(logTime))
		}
		l.opened[field(logPath)] = at
	case strings.Contains(s, `msg="segment closed"`):
		d, _ := time.ParseDuration(field(logDuration))
		n, _ := strconv.ParseInt(field(logBytes), 10, 64)
		p := field(logPath)
		l.closed = append(l.closed, soakSegment{stream: field(logStream), path: p, start: l.opened[p], duration: d, bytes: n})
	case strings.Contains(s, `msg="timestamp discontinuity, starting a new segment"`):
		l.cuts[field(logStream)]++
	case strings.Contains(s, `msg="retention deleted recordings"`):
		n, _ := strconv.Atoi(field(logFiles))
		l.deleted += n
	}
	if strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") {
		l.nwarns++
		if len(l.warns) < 50 {
			l.warns = append(l.warns, s)
		}
	}
}

// segments returns the segments opened and closed so far and the files
// retention deleted.
func (l *soakLog) segments() (opened map[string]bool, closed []soakSegment, deleted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	opened = make(map[string]bool, len(l.opened))
	for p := range l.opened {
		opened[p] = true
	}
	return opened, append([]soakSegment(nil), l.closed...), l.deleted
}

// discontinuities returns how many segments a timestamp discontinuity
// cut, per stream.
func (l *soakLog) discontinuities() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.cuts))
	for k, v := range l.cuts {
		out[k] = v
	}
	return out
}

// warnings returns the first warning and error lines and how many there
// were in all.
func (l *soakLog) warnings() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.warns...), l.nwarns
}

// lastLines returns the end of the log.
func (l *soakLog) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}
