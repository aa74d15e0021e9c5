package rtmp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// idleHandler accepts every connect and play; plays get a feedSub that
// stays quiet until fed.
type idleHandler struct{ subs chan *feedSub }

func (h *idleHandler) OnConnect(*ConnInfo) error { return nil }
func (h *idleHandler) OnPublish(*ConnInfo, *StreamRequest) (Publisher, error) {
	return nil, errors.New("no publishing here")
}
func (h *idleHandler) OnPlay(*ConnInfo, *StreamRequest) (Subscription, error) {
	s := &feedSub{ch: make(chan *remux.Message, 16), closed: make(chan struct{})}
	h.subs <- s
	return s, nil
}

// startIdleServer serves h with info-level logs, as the appliance runs.
func startIdleServer(t *testing.T, h Handler) (*Server, string) {
	t.Helper()
	logs := &syncBuffer{}
	srv := NewServer(ServerConfig{IdleTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(logs, nil))}, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return srv, ln.Addr().String()
}

// goroutinesIn counts the goroutines whose stack has fn in it.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// waitGoroutines waits until want goroutines have fn in their stacks.
func waitGoroutines(t *testing.T, fn string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := goroutinesIn(fn)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines in %s, want %d", got, fn, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stackInuse is the memory in goroutine stacks after two collections
// (the first shrinks what it can, the second settles the rest).
func stackInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// TestPlayOnlyConnectionIdles: a connection that only plays waits for
// its next message with its read buffer in the pool and its reader
// goroutine parked near the bottom of its stack (waitIdle), so that,
// with the player's goroutine, a player costs two 4 KiB stacks after a
// collection (the reader's, grown by the commands, kept 8 KiB when it
// waited in ReadMessage). It still answers a command, and it ends when
// the client hangs up.
func TestPlayOnlyConnectionIdles(t *testing.T) {
	if !canWaitReadable {
		t.Skip("no readiness wait on this OS")
	}
	const n = 256
	h := &idleHandler{subs: make(chan *feedSub, n+1)}
	srv, addr := startIdleServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := stackInuse()
	// No collection until the players are in: what the stacks take then
	// is the peak, before any could be shrunk.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	clients := make([]*Client, n)
	for i := range clients {
		c, name, err := Dial(ctx, "rtmp://"+addr+"/live/idle", ClientConfig{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Play(ctx, name); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	waitGoroutines(t, "rtmp.(*conn).waitIdle", n)
	if got := goroutinesIn("rtmp.(*ChunkReader).ReadMessage"); got != 0 {
		t.Errorf("%d readers parked in ReadMessage, want 0", got)
	}
	// Each player: its reader and its writer, 4 KiB each, at the peak (the
	// commands ran on goroutines of their own) and after collections (the
	// reader waits shallow enough to be shrunk); what the test's clients
	// keep is on the heap (they have no goroutines). The slack is the free
	// goroutines the runtime keeps with their stacks.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, s := range []struct {
		when  string
		stack uint64
	}{{"at the peak", ms.StackInuse}, {"after collections", stackInuse()}} {
		perPlayer := float64(s.stack-before) / n
		t.Logf("stack per player %s: %.0f B", s.when, perPlayer)
		// The race detector's instrumentation makes every frame larger.
		if perPlayer > 10<<10 && !raceEnabled {
			t.Errorf("goroutine stacks take %.0f B per player %s, want at most 10 KiB (two 4 KiB stacks)", perPlayer, s.when)
		}
	}

	// A command wakes the reader, which answers it and waits again.
	if _, err := clients[0].StreamLength(ctx, "idle"); err != nil {
		t.Fatalf("getStreamLength on an idle player: %v", err)
	}
	waitGoroutines(t, "rtmp.(*conn).waitIdle", n)
	// Media still flows to an idle connection.
	sub := <-h.subs
	m := remux.NewMessage(remux.KindVideo, 40, []byte{0x17, 1, 0, 0, 0, 'k'})
	m.Parse()
	sub.ch <- m
	found := false
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if got, err := c.ReadMedia(); err == nil && got.Kind == remux.KindVideo {
			found = true
			got.Release()
			break
		}
	}
	if !found {
		t.Error("no client got the frame sent to an idle player")
	}

	// Hanging up ends the connection at once: the wait sees the end.
	for _, c := range clients {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Connections() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after every client left", srv.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitGoroutines(t, "rtmp.(*conn).waitIdle", 0)
}
