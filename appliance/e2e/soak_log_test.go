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
	tail    []string // the last tailLines lines
	opened  map[string]bool
	closed  []soakSegment
	deleted int // files retention reported deleted
	warns   []string
	nwarns  int
}

// soakSegment is one "segment closed" line.
type soakSegment struct {
	stream, path string
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
)

func newSoakLog() *soakLog { return &soakLog{opened: map[string]bool{}} }

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
		l.opened[field(logPath)] = true
	case strings.Contains(s, `msg="segment closed"`):
		d, _ := time.ParseDuration(field(logDuration))
		n, _ := strconv.ParseInt(field(logBytes), 10, 64)
		l.closed = append(l.closed, soakSegment{stream: field(logStream), path: field(logPath), duration: d, bytes: n})
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
