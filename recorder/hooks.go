package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hook defaults and limits.
const (
	DefaultHookTimeout     = 10 * time.Minute
	DefaultHookConcurrency = 2
	HookQueue              = 100 // segments waiting for a free slot; more are dropped
	hookOutput             = 4 << 10
)

// Hook runs after a segment is closed: an HTTP POST of JSON {path, app,
// stream, start (RFC 3339), duration_seconds, bytes, format} to URL and/or
// Command (argv; placeholders {path} {app} {stream} {start} {duration}
// replaced in each arg; also env TAPEDECK_SEGMENT_PATH, _APP, _STREAM,
// _START, _DURATION). Failures are logged, never block recording; at most
// Concurrency (default 2) hooks run at once, further ones queue (bounded
// queue of 100; beyond, drop with a log line and count). Timeout default
// 10m per run.
//
// Details:
//   - One run per segment does the POST, then the command (both when both
//     are set); Timeout bounds each of them separately. A POST fails on a
//     transport error or a non-2xx status; a command on a non-zero exit.
//     No retries: a failure is logged (with the response's or command's
//     first 4 KiB of output) and counted in Failures.
//   - The JSON also carries "error" (the segment's Err) when a write error
//     cut the segment short. {bytes} and {format}, TAPEDECK_SEGMENT_BYTES
//     and TAPEDECK_SEGMENT_FORMAT are there too. {start} and
//     TAPEDECK_SEGMENT_START are RFC 3339 (seconds), {duration} and
//     TAPEDECK_SEGMENT_DURATION seconds with 3 decimals ("600.040").
//   - The command runs without a shell. Placeholders are substituted
//     verbatim: with sh -c, read the values from the environment
//     ("$TAPEDECK_SEGMENT_PATH", quoted) rather than writing {path} into
//     the script, since stream names come from publishers. On unix the
//     command gets its own process group, and a timeout kills the whole
//     group (children included).
//   - Rename events: when a segment the hook was told about is renamed
//     to its true start (a step of the wall clock; see Renamed), the hook
//     runs again for it with TAPEDECK_EVENT=rename and
//     TAPEDECK_OLD_PATH (placeholder {old_path}; JSON "event":"rename",
//     "old_path"); the other values are the segment's under its new name
//     (duration 0: not read again). A segment's first run has
//     TAPEDECK_EVENT=close and no "event" in the JSON.
//   - Segments with Bytes 0 (the file was removed, see
//     Config.OnSegmentDone) are skipped; so is everything when neither
//     URL nor Command is set.
//
// The zero value with URL or Command set is ready; do not copy a Hook
// after first use. Run is safe for concurrent use.
type Hook struct {
	URL         string
	Command     []string
	Timeout     time.Duration // per POST and per command; default 10m
	Concurrency int           // default 2
	Logger      *slog.Logger  // default slog.Default()
	// Follow, when set, maps a queued segment to its path and start at
	// the time its hook runs: a segment renamed to its true start after a
	// step of the wall clock (ClockSteps.Follow) is run with its new name.
	// A hook that ran before the rename had the old one: Renamed runs it
	// again with a rename event.
	Follow func(Segment) Segment

	Runs     atomic.Int64 // segments whose hook ran (successfully or not)
	Failures atomic.Int64 // runs whose POST or command failed
	Dropped  atomic.Int64 // segments never run: queue full, Run after Close, or Close's deadline

	ranMu sync.Mutex          // Follow and the noting of ran, against Renamed
	ran   map[string]struct{} // paths this hook ran for (bounded: maxHookRan)

	mu     sync.Mutex
	queue  chan Segment
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// hookClient has no overall timeout: each request carries its context.
var hookClient = &http.Client{}

func (h *Hook) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Hook) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultHookTimeout
}

// init starts the workers; h.mu is held.
func (h *Hook) init() {
	if h.queue != nil {
		return
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.queue = make(chan Segment, HookQueue)
	n := h.Concurrency
	if n <= 0 {
		n = DefaultHookConcurrency
	}
	h.wg.Add(n)
	for range n {
		go h.worker()
	}
}

// Run queues the hook for s and returns at once (non-blocking): when the
// queue is full, or after Close, s is dropped with a log line and counted
// in Dropped.
func (h *Hook) Run(s Segment) {
	if h.URL == "" && len(h.Command) == 0 {
		return
	}
	if s.Bytes == 0 {
		h.log().Debug("segment hook skipped: no file", "path", s.Path)
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.Dropped.Add(1)
		h.log().Warn("segment hook not run: hooks are shut down", "path", s.Path)
		return
	}
	h.init()
	select {
	case h.queue <- s:
		h.mu.Unlock()
	default:
		h.mu.Unlock()
		h.Dropped.Add(1)
		h.log().Error("segment hook dropped: too many hooks waiting", "path", s.Path,
			"queue", HookQueue, "dropped", h.Dropped.Load())
	}
}

// Close stops accepting segments and waits for the running and queued
// hooks to finish, or for ctx to end: then it cancels the running ones
// (commands are killed, requests aborted), drops what is still queued
// (counted in Dropped), waits for them to stop and returns ctx.Err().
// Calling Close again waits the same way.
func (h *Hook) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		if h.queue != nil {
			close(h.queue)
		}
	}
	cancel := h.cancel
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		<-done
		return ctx.Err()
	}
}

func (h *Hook) worker() {
	defer h.wg.Done()
	for s := range h.queue {
		if h.ctx.Err() != nil {
			h.Dropped.Add(1)
			h.log().Warn("segment hook not run: shutting down", "path", s.Path)
			continue
		}
		h.run(s)
	}
}

// maxHookRan bounds what a Hook remembers of the segments it ran for: a
// step of the wall clock renames at most ClockSteps' 4,096 most recent.
const maxHookRan = maxTrackedSegments

// Renamed tells the hook that the segment it knew at old is now s (renamed
// to its true start after a step of the wall clock): if the hook already
// ran for old, it runs again for s with a rename event; if it is still
// queued, Follow gives it the new name when it runs. Non-blocking, as Run.
func (h *Hook) Renamed(old string, s Segment) {
	h.ranMu.Lock()
	_, told := h.ran[old]
	delete(h.ran, old)
	h.ranMu.Unlock()
	if told {
		s.RenamedFrom = old
		h.Run(s)
	}
}

// noteRan remembers that the hook ran (or is running) for path.
func (h *Hook) noteRan(path string) {
	if len(h.ran) >= maxHookRan {
		clear(h.ran) // rare: a rename event may be missed for the oldest ones
	}
	if h.ran == nil {
		h.ran = make(map[string]struct{})
	}
	h.ran[path] = struct{}{}
}

// run does the POST and the command for one segment.
func (h *Hook) run(s Segment) {
	// Follow and noteRan together: a rename between them would find
	// neither the new name given to this run nor the old one noted. A
	// rename event notes its new name: a later rename is told too.
	h.ranMu.Lock()
	if h.Follow != nil && s.RenamedFrom == "" {
		s = h.Follow(s)
	}
	h.noteRan(s.Path)
	h.ranMu.Unlock()
	h.Runs.Add(1)
	log := h.log().With("path", s.Path)
	failed := false
	if h.URL != "" {
		t0 := time.Now()
		if err := h.post(s); err != nil {
			failed = true
			log.Warn("segment hook: POST failed", "url", h.URL, "err", err, "took", time.Since(t0))
		} else {
			log.Debug("segment hook: POST done", "url", h.URL, "took", time.Since(t0))
		}
	}
	if len(h.Command) > 0 {
		t0 := time.Now()
		if out, err := h.command(s); err != nil {
			failed = true
			log.Warn("segment hook: command failed", "command", h.Command[0], "err", err,
				"took", time.Since(t0), "output", out)
		} else {
			log.Debug("segment hook: command done", "command", h.Command[0], "took", time.Since(t0))
		}
	}
	if failed {
		h.Failures.Add(1)
	}
}

type hookPayload struct {
	Path     string  `json:"path"`
	App      string  `json:"app"`
	Stream   string  `json:"stream"`
	Start    string  `json:"start"`
	Duration float64 `json:"duration_seconds"`
	Bytes    int64   `json:"bytes"`
	Format   string  `json:"format"`
	Error    string  `json:"error,omitempty"`
	Event    string  `json:"event,omitempty"`    // "rename"; absent for a segment's close
	OldPath  string  `json:"old_path,omitempty"` // with "rename"
}

func (h *Hook) post(s Segment) error {
	p := hookPayload{Path: s.Path, App: s.App, Stream: s.Stream, Start: s.Start.Format(time.RFC3339),
		Duration: s.Duration.Seconds(), Bytes: s.Bytes, Format: s.Format}
	if s.Err != nil {
		p.Error = s.Err.Error()
	}
	if s.RenamedFrom != "" {
		p.Event, p.OldPath = "rename", s.RenamedFrom
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tapedeck")
	resp, err := hookClient.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v: %w", h.timeout(), err)
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, hookOutput))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// hookValues are the placeholder names and values of s.
func hookValues(s Segment) [][2]string {
	return [][2]string{
		{"path", s.Path},
		{"app", s.App},
		{"stream", s.Stream},
		{"start", s.Start.Format(time.RFC3339)},
		{"duration", strconv.FormatFloat(s.Duration.Seconds(), 'f', 3, 64)},
		{"bytes", strconv.FormatInt(s.Bytes, 10)},
		{"format", s.Format},
	}
}

// hookEvent is TAPEDECK_EVENT for s.
func hookEvent(s Segment) string {
	if s.RenamedFrom != "" {
		return "rename"
	}
	return "close"
}

// command runs the command for s; it returns the command's output (the
// first 4 KiB) with the error.
func (h *Hook) command(s Segment) (string, error) {
	vals := hookValues(s)
	pairs := make([]string, 0, 2*len(vals))
	env := os.Environ()
	for _, v := range vals {
		pairs = append(pairs, "{"+v[0]+"}", v[1])
		env = append(env, "TAPEDECK_SEGMENT_"+strings.ToUpper(v[0])+"="+v[1])
	}
	pairs = append(pairs, "{old_path}", s.RenamedFrom)
	env = append(env, "TAPEDECK_EVENT="+hookEvent(s), "TAPEDECK_OLD_PATH="+s.RenamedFrom)
	rep := strings.NewReplacer(pairs...)
	args := make([]string, len(h.Command))
	for i, a := range h.Command {
		args[i] = rep.Replace(a)
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	out := &headBuffer{max: hookOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second // children holding the output open
	ownProcessGroup(cmd)
	err := cmd.Run()
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out after %v, killed: %w", h.timeout(), err)
		case h.ctx.Err() != nil:
			err = fmt.Errorf("cancelled by shutdown: %w", err)
		}
	}
	return strings.TrimSpace(out.String()), err
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.b); room > 0 {
		b.b = append(b.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
