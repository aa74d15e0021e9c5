package rtmp

import (
	"net"
	"slices"
	"sync"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// The shared writer. With a goroutine per player, every published message
// wakes every player's goroutine for one write each: at a hundred players
// that wake-up, the subscription's lock and the netpoller's bookkeeping
// cost as much as the write. Instead, one goroutine per stream (a
// streamWriter) is woken per message and writes the new chunks to each of
// the stream's players that has caught up, with one non-blocking writev
// each on the raw socket (fanout_linux.go). A player whose socket is full
// (a partial write, EAGAIN), or that has anything unusual to send, is
// handed back to its own goroutine (player.run), which writes as before:
// blocking with the write deadline, skipped to a keyframe by the hub when
// it falls behind. When it has caught up again (nothing left to Poll), it
// rejoins the writer. Players on TLS, of recordings, with a duration
// limit or a fixed write_batch keep their goroutine throughout; so does
// every player where raw socket writes are not available (not linux).
// With up to maxInlinePlayers players the publisher's goroutine runs the
// writer's pass itself (notify), and the writer's goroutine only waits.
//
// ServerConfig.SharedWriter turns it on (the appliance's default). Measured
// side by side with nginx-rtmp on a quiet machine (2026-12-07), it costs
// 0.58-0.60x nginx's CPU at 1000 players where a goroutine per player costs
// 0.89-0.91x, at the same p99, and 1.15-1.21x at 100 players where the
// goroutine per player costs 1.39-1.42x. What is left is the writev
// syscalls themselves (74 % of the server's CPU at 100 players in perf:
// TCP on loopback, one write per player per message, as nginx's), so
// what lowers it further is fewer, fuller writes
// (rtmp/internal/loadtest/RESULTS.md).

// FanoutSubscription is a live Subscription whose players can share one
// writer per stream (hub.Subscriber is one).
type FanoutSubscription interface {
	Subscription
	Poller
	// FanoutKey identifies the stream: subscriptions of the same stream
	// return equal keys.
	FanoutKey() any
	// Watch makes the stream call wake whenever its subscribers may have
	// something new, on the goroutine that changed the stream (the
	// publisher's, for a message) and without the stream's locks held:
	// wake may Poll the subscriptions. unwatch stops it.
	Watch(wake func()) (unwatch func())
	// Err reports without blocking what Next would return once nothing
	// is left: the subscription's end, or nil.
	Err() error
}

// handoff is what the shared writer gives back to a player's goroutine.
type handoff struct {
	msgs   []*remux.Message // polled, retained; unwritten unless rest
	unsent bool             // msgs are for the goroutine to write
	rest   bool             // the writer wrote part of msgs: p.vb.out is the rest, c.wmu is held
	err    error            // the socket failed
}

// fanout is a Server's shared writers, by stream.
type fanout struct {
	mu      sync.Mutex
	writers map[any]*streamWriter
}

// streamWriter writes a stream's messages to the players that keep up.
type streamWriter struct {
	srv     *Server
	key     any
	wake    chan struct{}
	unwatch func()

	mu      sync.Mutex // held for a whole pass over the players
	players []*player
	last    time.Time  // start of the previous pass that wrote, of any group
	pass    directPass // the pass's scratch
	// With many players the writer serves them in groups (see
	// writerGroups): next is the group the next pass serves, groupLast
	// the start of each group's previous pass that wrote, and slots how
	// many players hold each slot (player.fanSlot).
	next      int
	groupLast [maxWriterGroups]time.Time
	slots     [maxWriterGroups]int
}

// Groups. A pass over a thousand players writes to all of them within a
// few milliseconds, once per merge window, and the players' machines (or
// one load tool reading them all) get a thousand writes in a burst, then
// nothing: the last player's message is late by the whole pass, and the
// reader of all of them by the time it takes to drain the burst. With
// 2 × playersPerGroup players or more the writer serves them in up to
// maxWriterGroups groups, one group per pass, the passes spread evenly over
// the window: each player still gets one write per window (the CPU the
// window saves is unchanged), but a burst is a quarter as long, so
// messages are out sooner by most of the pass. A player keeps the slot it
// got at join (the least held one) while it stays with the writer, and is
// in group slot mod n: players leaving in the middle of a round move no
// one into a group already served or not yet served.
const (
	maxWriterGroups = 4
	playersPerGroup = 128
)

// writerGroups is how many groups n players are served in.
func writerGroups(n int) int {
	return min(max(n/playersPerGroup, 1), maxWriterGroups)
}

// directPass is the scratch of one pass of a shared writer over its
// players. Each player's write (chunk headers, vector, iovecs) is built in
// it rather than in the player's own builder: the pass's writev calls
// evict whatever the previous player touched, and a scratch shared by all
// players stays in cache where each player's own costs a miss per buffer.
type directPass struct {
	now   time.Time // the pass's start, for the write deadlines
	wrote int       // players written to
	vb    vecBuilder
	iov   iovScratch
}

// fanoutFor returns the subscription and raw socket a new player shares a
// writer through, or nils when it keeps its own goroutine throughout.
func (s *Server) fanoutFor(p *player) (FanoutSubscription, rawWriter) {
	fs, ok := p.sub.(FanoutSubscription)
	if !ok || !s.cfg.SharedWriter || p.vod != nil || p.limit != 0 || s.pacer.fixed > 0 {
		return nil, rawWriter{}
	}
	raw, ok := newRawWriter(p.c.nc)
	if !ok {
		return nil, rawWriter{}
	}
	return fs, raw
}

// direct hands the player, caught up, to its stream's writer and waits
// until the writer gives it back. A zero handoff: the player is stopping,
// or its subscription may have ended; Next tells.
func (p *player) direct() handoff {
	if !p.c.srv.fan.join(p) {
		return handoff{}
	}
	return <-p.handback
}

// join adds p to its stream's writer, starting the writer if need be.
func (f *fanout) join(p *player) bool {
	if p.stopping.Load() {
		return false
	}
	key := p.fan.FanoutKey()
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.writers[key]
	if w == nil {
		if f.writers == nil {
			f.writers = make(map[any]*streamWriter)
		}
		w = &streamWriter{srv: p.c.srv, key: key, wake: make(chan struct{}, 1)}
		w.unwatch = p.fan.Watch(w.notify)
		f.writers[key] = w
		go w.run()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// stop sets stopping before it looks for the player in a writer, so
	// either it finds p there or p sees stopping here.
	if p.stopping.Load() {
		w.kick() // it may have no players left to retire for
		return false
	}
	w.players = append(w.players, p)
	p.fanSlot = uint8(w.leastHeldSlot())
	w.slots[p.fanSlot]++
	p.fw.Store(w)
	w.kick() // a message may have come after the player's last Poll
	return true
}

// leastHeldSlot is the group slot the fewest of w's players hold; w.mu is
// held.
func (w *streamWriter) leastHeldSlot() int {
	best := 0
	for s, n := range w.slots {
		if n < w.slots[best] {
			best = s
		}
	}
	return best
}

// retire removes w from the registry if it has no players; the writer
// goroutine then ends.
func (f *fanout) retire(w *streamWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.players) > 0 {
		return false
	}
	delete(f.writers, w.key)
	w.unwatch()
	return true
}

func (w *streamWriter) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// remove gives p back to its goroutine if w drives it (player.stop).
func (w *streamWriter) remove(p *player) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := slices.Index(w.players, p)
	if i < 0 {
		return
	}
	w.players = slices.Delete(w.players, i, i+1)
	w.slots[p.fanSlot]--
	p.handBack(handoff{})
	if len(w.players) == 0 {
		w.kick()
	}
}

// maxInlinePlayers bounds the players a publisher's goroutine writes to
// itself (notify). Beyond it the pass goes to the writer's goroutine,
// which on a multi-core machine runs beside the publisher's reads.
const maxInlinePlayers = 16

// notify is w's wake-up from the stream. With few players and no merge
// window to hold for, it runs the pass itself, on the goroutine that
// changed the stream (for a message, the publisher's reader, which writes
// it out before it reads the next one): handing each message to the
// writer's goroutine costs a wake-up, two goroutine switches and a park,
// more than one player's write. Otherwise, or when the writer's goroutine
// is in a pass already, it wakes that goroutine.
func (w *streamWriter) notify() {
	if w.mu.TryLock() {
		n := len(w.players)
		if n > 0 && n <= maxInlinePlayers {
			now := time.Now()
			if w.srv.pacer.hold(w.last, now) == 0 {
				w.passLocked(now, 1)
				empty := len(w.players) == 0
				w.mu.Unlock()
				if empty {
					w.kick() // its goroutine retires it
				}
				return
			}
		}
		w.mu.Unlock()
	}
	w.kick()
}

func (w *streamWriter) run() {
	for range w.wake {
		// One round: a pass for each group, each after its hold. A message
		// that came during the round is already out to the groups served
		// after it; it left a wake-up for the next round. The number of
		// groups is fixed for the round, so that each slot is in exactly
		// one of its passes.
		w.mu.Lock()
		n := writerGroups(len(w.players))
		w.mu.Unlock()
		for range n {
			w.mu.Lock()
			d := w.holdLocked(n, time.Now())
			w.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			w.mu.Lock()
			w.passLocked(time.Now(), n)
			w.mu.Unlock()
		}
		w.mu.Lock()
		empty := len(w.players) == 0
		w.mu.Unlock()
		if empty && w.srv.fan.retire(w) {
			return
		}
	}
}

// holdLocked is how long the next pass waits, of n groups: the adaptive
// merge window after the previous pass of its group (a message that comes
// within it waits for the rest of it and leaves with what came
// meanwhile), and a window / n after the previous pass of any group, so
// that the groups' passes spread over the window.
func (w *streamWriter) holdLocked(n int, now time.Time) time.Duration {
	g := w.next % n
	d := w.srv.pacer.hold(w.groupLast[g], now)
	if n > 1 && !w.last.IsZero() {
		d = max(d, w.last.Add(w.srv.pacer.window()/time.Duration(n)).Sub(now))
	}
	if d < minPause {
		return 0
	}
	return d
}

// passLocked writes what each player of the next of n groups has to its
// socket (directStep), dropping the players handed back; w.mu is held.
func (w *streamWriter) passLocked(start time.Time, n int) {
	g := w.next % n
	w.next = (g + 1) % n
	ps := &w.pass
	ps.now, ps.wrote = start, 0
	kept := w.players[:0]
	for _, p := range w.players {
		if int(p.fanSlot)%n != g || p.directStep(ps) {
			kept = append(kept, p)
		} else {
			w.slots[p.fanSlot]--
		}
	}
	clear(w.players[len(kept):])
	w.players = kept
	ps.vb.reset() // keep no payload reachable
	if ps.wrote > 0 {
		w.srv.pacer.observe(time.Since(start) / time.Duration(ps.wrote))
		w.last, w.groupLast[g] = start, start
	}
}

// handBack gives the player back to its goroutine; w.mu is held.
func (p *player) handBack(h handoff) {
	p.fw.Store(nil)
	p.handback <- h // capacity 1, one handoff per join: never blocks
}

// directStep writes what p's subscription has to its socket without
// blocking; it runs on the writer goroutine with w.mu held, building the
// write in ps. It reports whether p stays with the writer, and counts p in
// ps.wrote if it wrote.
func (p *player) directStep(ps *directPass) bool {
	msgs := p.fan.Poll(p.batch[:0])
	p.batch = msgs
	if len(msgs) == 0 {
		if p.stopping.Load() || p.fan.Err() != nil {
			p.handBack(handoff{})
			return false
		}
		return true
	}
	c := p.c
	// The reader goroutine may be writing a control message (and be
	// blocked on a full socket): never wait for it here.
	if !p.fits(msgs) || !c.wmu.TryLock() {
		p.handBack(handoff{msgs: msgs, unsent: true})
		return false
	}
	if c.wclosed {
		c.wmu.Unlock()
		p.handBack(handoff{msgs: msgs, unsent: true}) // write reports it
		return false
	}
	p.tally.messages += uint64(len(msgs))
	// The socket's write deadline, set by the player's goroutine, would
	// fail the raw write too once it passed: keep it ahead as writes do.
	c.refreshWriteDeadlineAt(ps.now)
	vb := &ps.vb
	vb.reset()
	p.addLocked(msgs, vb) // cannot fail without flushing
	bufs := vb.buffers()
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	n, err := p.raw.writev(bufs, &ps.iov)
	c.srv.bytesOut.Add(uint64(n))
	p.tally.bytes += uint64(n)
	ps.wrote++
	if err != nil {
		c.wclosed = true
		c.wmu.Unlock()
		releaseAll(msgs)
		p.handBack(handoff{err: err})
		return false
	}
	if n < total {
		// The socket is full. The rest must follow before anything else
		// on this connection, so c.wmu stays locked until the goroutine
		// has written it (finishWrite), from the player's own builder:
		// the pass's is the next player's.
		p.vb.adopt(consumed(bufs, n))
		p.handBack(handoff{msgs: msgs, rest: true})
		return false
	}
	c.wmu.Unlock()
	releaseAll(msgs)
	return true
}

// maxDirectSegs bounds the chunks of a write the shared writer makes (all
// of it in one writev, a keyframe included); more goes to the player's
// goroutine, which writes maxWriteSegs at a time.
const maxDirectSegs = 32

// fits reports whether msgs are media the writer can send as they are, in
// one write: no events (which need the player's goroutine's statuses),
// nothing filtered by receiveAudio/receiveVideo, at most maxDirectSegs chunks.
func (p *player) fits(msgs []*remux.Message) bool {
	size := int(p.c.cw.chunkSize)
	chunks := 0
	for _, m := range msgs {
		switch m.Kind {
		case remux.KindAudio, remux.KindVideo, remux.KindData:
		default:
			return false
		}
		chunks += max(1, (len(m.Payload)+size-1)/size)
	}
	return chunks <= maxDirectSegs && !p.noAudio.Load() && !p.noVideo.Load()
}

// finishWrite writes the rest of a write the shared writer began (p.vb.out)
// with the write deadline, and unlocks c.wmu, which the writer left held.
func (p *player) finishWrite() error {
	c := p.c
	defer c.wmu.Unlock()
	c.refreshWriteDeadlineLocked()
	n, err := p.vb.out.WriteTo(c.nc)
	p.vb.out = nil
	p.vb.reset()
	c.srv.bytesOut.Add(uint64(n))
	p.tally.bytes += uint64(n)
	if err != nil {
		c.wclosed = true
	}
	return err
}

// consumed returns bufs without their first n bytes, reusing bufs.
func consumed(bufs net.Buffers, n int) net.Buffers {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

func releaseAll(msgs []*remux.Message) {
	for i, m := range msgs {
		m.Release()
		msgs[i] = nil
	}
}
