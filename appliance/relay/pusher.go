package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapedeck/tapedeck/appliance/hub"
	"github.com/tapedeck/tapedeck/appliance/internal/redact"
	"github.com/tapedeck/tapedeck/appliance/internal/retry"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

const (
	// maxGOPBytes bounds the GOP a pusher keeps for a reconnect; a larger
	// one is dropped and the reconnect waits for the next keyframe.
	maxGOPBytes = 16 << 20
	// stableAfter is how long a connection must have lasted for its loss
	// to restart the backoff at MinBackoff.
	stableAfter = 10 * time.Second
	// closeTimeout bounds the polite unpublish when a push stops.
	closeTimeout = time.Second
)

// upConn is one connection to the upstream, published and ready for media.
type upConn struct {
	c           *rtmp.Client
	url         string // what was dialled: the target's, or one the upstream redirected to
	name        string // stream name (key) on the upstream
	enhanced    bool   // connect announced fourCcList
	props, info amf.Object
	liveAt      time.Time
	failed      bool // guarded by pusher.mu
}

// close closes the connection; its readLoop then releases the client. (The
// client's own Close must not race with a ReadCommand in progress.)
func (uc *upConn) close() { uc.c.NetConn().Close() }

// supports reports whether the upstream's connect reply (properties or
// information object) announced Enhanced RTMP support for codec.
func (uc *upConn) supports(codec remux.FourCC) bool {
	return rtmp.SupportsCodec(codec, uc.props, uc.info)
}

// fourCcList is what a pusher announces in connect when its stream uses
// Enhanced RTMP: the usual video FourCCs and those of the stream.
func fourCcList(codecs []remux.FourCC) []any {
	list := []any{"av01", "vp09", "hvc1"}
	for _, c := range codecs {
		if !slices.Contains(list, any(c.String())) {
			list = append(list, c.String())
		}
	}
	return list
}

// incompatibleError is a message the upstream did not say it can take.
type incompatibleError struct {
	codec remux.FourCC
	asked bool // the connect announced fourCcList
}

func (e *incompatibleError) Error() string {
	return fmt.Sprintf("upstream does not accept %s: its connect reply announced no Enhanced RTMP support for it (fourCcList, videoFourCcInfoMap or audioFourCcInfoMap); the stream is not sent", e.codec)
}

// pusher pushes one stream to one target.
type pusher struct {
	m           *Manager
	app, stream string
	target      Target
	url         string // placeholders expanded
	redacted    string
	secrets     []string
	runtime     bool
	log         *slog.Logger
	sub         *hub.Subscriber
	done        chan struct{}

	bytesOut atomic.Uint64
	skips    atomic.Uint64 // own skips (MaxLagBytes); the hub counts its own
	wantConn atomic.Bool   // connect at the next media message

	mu       sync.Mutex
	state    string
	since    time.Time
	retries  int
	lastErr  string
	attempts int  // failures in a row: the backoff exponent
	tried    bool // a first attempt was made
	stopped  bool
	pending  bool // a retry timer is armed
	timer    *time.Timer
	cancel   context.CancelFunc // of the attempt in flight
	ready    *upConn            // published, not yet taken by run
	cur      *upConn            // in use by run
	next     string             // URL for the next attempt only (ReconnectRequest tcUrl); "" = url
	codecs   []remux.FourCC     // Enhanced RTMP codecs of the publisher session
	refused  remux.FourCC       // the codec the upstream does not accept, while StateIncompatible
	refusals uint64             // times the stream was refused for a codec (Status.Refusals)

	// Owned by the run goroutine.
	meta, vhdr, ahdr *remux.Message
	gop              []*remux.Message // track-0 keyframe onward
	gopBytes         int64
	gopOK            bool
	seen             []remux.FourCC // copy of codecs
	waitKey          bool
	ts               tsMap
	scratch          []byte
}

// newPusher subscribes to the stream; it returns nil when the stream has
// never been published (its publisher already left and the stream is gone).
func newPusher(m *Manager, app, stream string, t Target, u string, runtime bool) *pusher {
	sub := m.hub.Subscribe(app, stream, hub.StreamConfig{GOPCache: true, MaxLagBytes: m.opts.MaxLagBytes})
	sub.SetKind("relay") // not a player: a push does not keep an on-demand pull alive
	if st := sub.Stream().Stats(); !st.Publishing && st.Since.IsZero() {
		sub.Close()
		return nil
	}
	p := &pusher{
		m: m, app: app, stream: stream, target: t, url: u,
		redacted: redact.URL(u), secrets: redact.Secrets(u), runtime: runtime,
		sub: sub, done: make(chan struct{}),
		state: StateConnecting, since: time.Now(),
	}
	p.log = m.log.With("app", app, "stream", stream, "target", t.Name, "url", p.redacted)
	p.wantConn.Store(true)
	return p
}

func (p *pusher) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{
		Name: p.target.Name, URL: p.redacted, State: p.state, Since: p.since,
		Retries: p.retries, Skips: p.sub.Skips() + p.skips.Load(),
		LastError: p.lastErr, BytesOut: p.bytesOut.Load(), Runtime: p.runtime,
		Refusals: p.refusals,
	}
	if p.state == StateIncompatible {
		st.Refused = p.refused.String()
	}
	return st
}

func (p *pusher) setStateLocked(s string) {
	if p.state != s {
		p.state = s
		p.since = time.Now()
	}
}

// run reads the stream from the hub until it ends or the pusher stops,
// sending it to whichever upstream connection is up.
func (p *pusher) run() {
	ended := false
	defer func() {
		p.shutdown()
		p.m.exited(p, ended)
		close(p.done)
		p.m.wg.Done()
	}()
	var batch []*remux.Message
	for {
		var err error
		batch, err = p.sub.Next(batch[:0])
		p.process(batch)
		for i, msg := range batch {
			msg.Release()
			batch[i] = nil
		}
		if err != nil {
			if ended = errors.Is(err, hub.ErrEnded); ended {
				p.log.Info("relay: stream ended, push stopped")
			}
			return
		}
	}
}

// take returns the connection to write to, and whether it is new (then the
// headers and the GOP go first).
func (p *pusher) take() (*upConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		p.cur, p.ready = p.ready, nil
		return p.cur, true
	}
	return p.cur, false
}

func (p *pusher) process(batch []*remux.Message) {
	uc, fresh := p.take()
	if fresh {
		p.log.Info("relay: pushing")
		if err := p.prime(uc); err != nil {
			p.sendFailed(uc, err)
			uc = nil
		}
	}
	skipTo := 0
	if uc != nil && !fresh && p.m.opts.MaxLagBytes > 0 {
		if skipTo = lagSkip(batch, p.m.opts.MaxLagBytes); skipTo > 0 {
			p.skips.Add(1)
		}
	}
	for i, msg := range batch {
		p.track(msg)
		if uc == nil || i < skipTo && !keepOnSkip(msg) {
			continue
		}
		if err := p.send(uc, msg); err != nil {
			p.sendFailed(uc, err)
			uc = nil
		}
	}
}

// lagSkip returns the index of the newest track-0 keyframe of batch when
// the batch is larger than maxBytes (the pusher is that far behind), else 0.
func lagSkip(batch []*remux.Message, maxBytes int64) int {
	var n int64
	for _, m := range batch {
		n += int64(len(m.Payload))
	}
	if n <= maxBytes {
		return 0
	}
	for i := len(batch) - 1; i > 0; i-- {
		if batch[i].IsKeyframe() && batch[i].Frame.Track == 0 {
			return i
		}
	}
	return 0
}

// keepOnSkip reports whether m is sent even when skipped over: markers,
// metadata and sequence headers.
func keepOnSkip(m *remux.Message) bool {
	return !m.Kind.IsMedia() || m.IsSequenceHeader()
}

func swap(old, m *remux.Message) *remux.Message {
	if old != nil {
		old.Release()
	}
	return m.Retain()
}

// track keeps what a new connection needs: metadata, sequence headers and
// the GOP from the newest keyframe, by reference.
func (p *pusher) track(m *remux.Message) {
	switch {
	case m.Kind == remux.KindStreamStart:
		p.resetSession()
		p.mu.Lock()
		p.codecs = nil
		if p.state == StateIncompatible {
			p.attempts = 0
			p.wantConn.Store(true) // the new session may use other codecs
		}
		p.mu.Unlock()
		return
	case m.Kind == remux.KindStreamEnd:
		return
	case m.IsMetadata():
		p.meta = swap(p.meta, m)
		return
	}
	if m.Frame.Enhanced && !slices.Contains(p.seen, m.Frame.Codec) {
		p.seen = append(p.seen, m.Frame.Codec)
		p.mu.Lock()
		p.codecs = slices.Clone(p.seen)
		p.mu.Unlock()
	}
	if !m.Kind.IsMedia() {
		return
	}
	if m.Frame.SequenceHeader {
		if m.Frame.Track == 0 {
			if m.Kind == remux.KindVideo {
				p.vhdr = swap(p.vhdr, m)
			} else {
				p.ahdr = swap(p.ahdr, m)
			}
		}
		return
	}
	if p.wantConn.CompareAndSwap(true, false) {
		p.attempt()
	}
	if m.IsKeyframe() && m.Frame.Track == 0 {
		p.dropGOP()
		p.gopOK = true
	}
	if p.gopOK {
		p.gop = append(p.gop, m.Retain())
		p.gopBytes += int64(len(m.Payload))
		if p.gopBytes > maxGOPBytes {
			p.dropGOP()
		}
	}
}

func (p *pusher) dropGOP() {
	for i, m := range p.gop {
		m.Release()
		p.gop[i] = nil
	}
	p.gop = p.gop[:0]
	p.gopBytes = 0
	p.gopOK = false
}

// resetSession forgets the previous publisher session's headers and GOP.
func (p *pusher) resetSession() {
	for _, m := range []**remux.Message{&p.meta, &p.vhdr, &p.ahdr} {
		if *m != nil {
			(*m).Release()
			*m = nil
		}
	}
	p.dropGOP()
	p.seen = p.seen[:0]
}

// prime starts a new connection: metadata, sequence headers, then the GOP
// from the newest keyframe (or, without one, video from the next keyframe),
// continuing the timeline after what was sent before.
func (p *pusher) prime(uc *upConn) error {
	p.ts.rebase()
	p.waitKey = !p.gopOK
	for _, m := range []*remux.Message{p.meta, p.vhdr, p.ahdr} {
		if m != nil {
			if err := p.send(uc, m); err != nil {
				return err
			}
		}
	}
	if p.gopOK {
		for _, m := range p.gop {
			if err := p.send(uc, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// send writes one message upstream under its rewritten timestamp.
func (p *pusher) send(uc *upConn, m *remux.Message) error {
	switch m.Kind {
	case remux.KindStreamStart:
		p.ts.rebase() // a new publisher starts its own timeline
		return nil
	case remux.KindStreamEnd:
		return nil
	case remux.KindVideo:
		if p.waitKey && !m.Frame.SequenceHeader {
			if !m.IsKeyframe() || m.Frame.Track != 0 {
				return nil
			}
			p.waitKey = false
		}
	}
	if m.Frame.Enhanced && !uc.supports(m.Frame.Codec) {
		return &incompatibleError{codec: m.Frame.Codec, asked: uc.enhanced}
	}
	payload := m.Payload
	if m.IsMetadata() {
		p.scratch = append(amf.AppendString(p.scratch[:0], "@setDataFrame"), payload...)
		payload = p.scratch
	}
	ts := p.ts.out(m)
	uc.c.SetWriteDeadline(time.Now().Add(p.m.opts.WriteTimeout))
	if err := uc.c.WriteMessage(m.Kind, ts, payload); err != nil {
		return err
	}
	p.bytesOut.Add(uint64(len(payload)))
	return nil
}

func (p *pusher) sendFailed(uc *upConn, err error) {
	var ie *incompatibleError
	if errors.As(err, &ie) {
		if !ie.asked {
			// The stream turned Enhanced after this connection was made:
			// reconnect at once, announcing the codecs this time.
			p.fail(uc, fmt.Errorf("stream now uses Enhanced RTMP (%s): reconnecting to announce it", ie.codec), true)
			return
		}
		p.incompatible(uc, ie)
		return
	}
	p.fail(uc, fmt.Errorf("write: %w", err), false)
}

// attempt starts a connection attempt unless one is in flight, armed or
// not needed.
func (p *pusher) attempt() {
	p.mu.Lock()
	if p.stopped || p.pending || p.cancel != nil || p.cur != nil || p.ready != nil {
		p.mu.Unlock()
		return
	}
	if p.tried {
		p.retries++
	}
	p.tried = true
	p.setStateLocked(StateConnecting)
	ctx, cancel := context.WithTimeout(context.Background(), p.m.opts.DialTimeout)
	p.cancel = cancel
	codecs := slices.Clone(p.codecs)
	// A redirect is tried once; should it fail, the retry after it goes
	// back to the configured URL.
	u := p.url
	if p.next != "" {
		u, p.next = p.next, ""
	}
	p.mu.Unlock()
	go p.connect(ctx, cancel, codecs, u)
}

// connect dials u (the target's URL or a redirect), connects and
// publishes; it runs on its own goroutine so the pusher keeps following
// the stream meanwhile.
func (p *pusher) connect(ctx context.Context, cancel context.CancelFunc, codecs []remux.FourCC, u string) {
	cfg := rtmp.ClientConfig{Timeout: p.m.opts.DialTimeout, TLSConfig: p.m.opts.TLSConfig}
	// capsEx 0x01 (Enhanced RTMP v2): we follow NetConnection.Connect.
	// ReconnectRequest, which servers send only to clients announcing it.
	// Servers that do not know the property ignore it.
	cfg.ConnectProps = amf.Object{{Key: "capsEx", Value: 1.0}}
	if len(codecs) > 0 {
		cfg.ConnectProps = append(cfg.ConnectProps, amf.Property{Key: "fourCcList", Value: fourCcList(codecs)})
	}
	var uc *upConn
	var incompat *incompatibleError
	var c *rtmp.Client
	var name string
	var err error
	if pol := p.target.Policy; pol != nil {
		// Checked per attempt: a redirect's URL is policed like the target's.
		cfg.Control, err = pol.dialControl(u)
	}
	if err == nil {
		c, name, err = rtmp.Dial(ctx, u, cfg)
	}
	if err == nil {
		uc = &upConn{c: c, url: u, name: name, enhanced: len(codecs) > 0, props: c.ServerProperties, info: c.ConnectInfo}
		for _, codec := range codecs {
			if !uc.supports(codec) {
				incompat = &incompatibleError{codec: codec, asked: true}
				break
			}
		}
		if incompat == nil {
			err = c.Publish(ctx, name)
		}
	} else {
		err = fmt.Errorf("connect: %w", err)
	}
	cancel()

	p.mu.Lock()
	p.cancel = nil
	switch {
	case p.stopped:
	case err != nil:
		p.lastErr = p.scrub(describeDialFailure(err), u)
		d := p.scheduleLocked(false)
		if u != p.url {
			p.log.Warn("relay: push connection to the server the upstream redirected to failed; retrying the configured URL",
				"to", redact.URL(u), "err", p.lastErr, "retry_in", d.Round(time.Millisecond))
		} else {
			p.log.Warn("relay: push connection failed", "err", p.lastErr, "retry_in", d.Round(time.Millisecond))
		}
	case incompat != nil:
		p.incompatibleLocked(incompat)
	default:
		uc.liveAt = time.Now()
		p.ready = uc
		p.setStateLocked(StateLive)
		p.mu.Unlock()
		go p.readLoop(uc)
		return
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// readLoop keeps the connection drained (pings, acks) and watches for the
// upstream closing it or reporting an error.
func (p *pusher) readLoop(uc *upConn) {
	defer uc.c.Close()
	for {
		vals, err := uc.c.ReadCommand()
		if err != nil {
			p.fail(uc, fmt.Errorf("upstream connection lost: %w", err), false)
			return
		}
		if len(vals) < 4 || vals[0] != "onStatus" {
			continue // onBWDone, late _results...
		}
		info, _ := vals[3].(amf.Object)
		code := info.String("code")
		switch {
		case code == "NetConnection.Connect.ReconnectRequest":
			p.reconnectRequested(uc, info.String("tcUrl"))
			return
		case info.String("level") == "error":
			p.fail(uc, fmt.Errorf("upstream: %s: %s", code, info.String("description")), false)
			return
		}
	}
}

// reconnectRequested handles an Enhanced RTMP v2 ReconnectRequest: the
// connection is dropped and the pusher reconnects at once, to tcUrl when
// the request carries one (resolved against the connection's tcUrl, same
// stream name and key), else to the server of this connection. Such a
// URL is used for one attempt: the retries after a failed one, and the
// reconnects after a later connection loss, use the configured URL.
func (p *pusher) reconnectRequested(uc *upConn, tcURL string) {
	if tcURL == "" { // the same tcUrl: the server this connection went to
		p.failTo(uc, errors.New("upstream asked to reconnect"), true, uc.url)
		return
	}
	to, err := redirectURL(uc.url, tcURL)
	if err != nil {
		// The tcUrl came from the upstream: it may hold secrets, so only
		// the reason is logged.
		p.log.Warn("relay: upstream asked to reconnect elsewhere; ignoring the tcUrl, reconnecting to the same URL",
			"err", p.scrub(err.Error(), uc.url))
		p.failTo(uc, errors.New("upstream asked to reconnect"), true, uc.url)
		return
	}
	if to == uc.url { // its own tcUrl, as tapedeck sends unless told otherwise
		p.failTo(uc, errors.New("upstream asked to reconnect"), true, uc.url)
		return
	}
	p.log.Info("relay: upstream asked to reconnect elsewhere", "to", redact.URL(to))
	p.failTo(uc, fmt.Errorf("upstream asked to reconnect to %s", redact.URL(to)), true, to)
}

// redirectURL is the push URL for a ReconnectRequest's tcUrl: tcUrl
// (absolute, or relative like "//host/app" or "/app", resolved against
// the tcUrl of cur) followed by the stream name of cur, with its query.
// Only rtmp and rtmps are followed.
func redirectURL(cur, tcURL string) (string, error) {
	_, _, base, stream, err := rtmp.ParseURL(cur)
	if err != nil {
		return "", err
	}
	bu, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(tcURL)
	if err != nil {
		return "", errors.New("tcUrl does not parse")
	}
	to := bu.ResolveReference(ref)
	if to.Scheme != "rtmp" && to.Scheme != "rtmps" {
		return "", fmt.Errorf("tcUrl scheme %q is not rtmp or rtmps", to.Scheme)
	}
	app := strings.Trim(to.Path, "/")
	if to.Host == "" || app == "" {
		return "", errors.New("tcUrl has no host or no app")
	}
	name, query, _ := strings.Cut(stream, "?")
	if to.RawQuery != "" { // the tcUrl's own query (a token) goes along with the key's
		query = strings.TrimPrefix(query+"&"+to.RawQuery, "&")
	}
	out := (&url.URL{Scheme: to.Scheme, Host: to.Host, Path: "/" + app + "/" + name, RawQuery: query}).String()
	if _, _, _, _, err := rtmp.ParseURL(out); err != nil {
		return "", errors.New("tcUrl does not make a push URL") // err would show the key
	}
	return out, nil
}

// scrub hides in s the secrets of the target's URL and of u (a redirect
// may bring its own).
func (p *pusher) scrub(s, u string) string {
	s = redact.Scrub(s, p.secrets)
	if u != p.url {
		s = redact.Scrub(s, redact.Secrets(u))
	}
	return s
}

// fail drops a connection and schedules a reconnect (at once or after the
// backoff).
func (p *pusher) fail(uc *upConn, err error, immediate bool) { p.failTo(uc, err, immediate, "") }

// failTo is fail with the URL of the next attempt: "" for the target's.
func (p *pusher) failTo(uc *upConn, err error, immediate bool, next string) {
	p.mu.Lock()
	if !p.detachLocked(uc) {
		p.mu.Unlock()
		return
	}
	if p.ready == uc {
		p.ready = nil
	}
	if !p.stopped {
		if time.Since(uc.liveAt) >= stableAfter {
			p.attempts = 0
		}
		p.next = next
		p.lastErr = p.scrub(err.Error(), uc.url)
		d := p.scheduleLocked(immediate)
		p.log.Warn("relay: push interrupted", "err", p.lastErr, "retry_in", d.Round(time.Millisecond))
	}
	p.mu.Unlock()
	uc.close()
}

// detachLocked marks uc failed and lets go of it as the connection being
// sent to, and reports false if it had failed already: a connection fails
// once, on whichever error (a write, a reader, an incompatible stream)
// comes first, and the later ones are ignored.
func (p *pusher) detachLocked(uc *upConn) bool {
	if uc.failed {
		return false
	}
	uc.failed = true
	if p.cur == uc {
		p.cur = nil
	}
	return true
}

// scheduleLocked arms the next attempt and returns its delay.
func (p *pusher) scheduleLocked(immediate bool) time.Duration {
	var d time.Duration
	if !immediate {
		d = retry.Backoff(p.attempts, p.m.opts.MinBackoff, p.m.opts.MaxBackoff, retry.Jitter())
		p.attempts++
	}
	p.setStateLocked(StateBackoff)
	p.pending = true
	p.timer = time.AfterFunc(d, func() {
		p.mu.Lock()
		p.pending = false
		p.mu.Unlock()
		p.attempt()
	})
	return d
}

// incompatible stops sending to a connection that cannot take the stream.
func (p *pusher) incompatible(uc *upConn, ie *incompatibleError) {
	p.mu.Lock()
	if !p.detachLocked(uc) {
		p.mu.Unlock()
		return
	}
	p.incompatibleLocked(ie)
	p.mu.Unlock()
	p.closeConn(uc)
}

func (p *pusher) incompatibleLocked(ie *incompatibleError) {
	p.setStateLocked(StateIncompatible)
	p.refused = ie.codec
	p.refusals++
	p.lastErr = ie.Error()
	p.log.Warn("relay: push target incompatible with the stream", "err", p.lastErr)
}

// closeConn unpublishes politely, then closes.
func (p *pusher) closeConn(uc *upConn) {
	uc.c.SetWriteDeadline(time.Now().Add(closeTimeout))
	uc.c.Unpublish(uc.name)
	uc.close()
}

// stop makes run finish; it does not wait.
func (p *pusher) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.sub.Close()
}

// cut closes the connections at once (shutdown taking too long).
func (p *pusher) cut() {
	p.mu.Lock()
	conns := []*upConn{p.cur, p.ready}
	p.mu.Unlock()
	for _, uc := range conns {
		if uc != nil {
			uc.close()
		}
	}
}

// shutdown runs when run returns: no more attempts, connections closed,
// references released.
func (p *pusher) shutdown() {
	p.mu.Lock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.cancel != nil {
		p.cancel()
	}
	var conns []*upConn
	for _, uc := range []*upConn{p.cur, p.ready} {
		if uc != nil && !uc.failed {
			uc.failed = true
			conns = append(conns, uc)
		}
	}
	p.cur, p.ready = nil, nil
	p.setStateLocked(StateStopped)
	p.mu.Unlock()
	for _, uc := range conns {
		p.closeConn(uc)
	}
	p.resetSession()
	p.sub.Close()
	p.log.Info("relay: push stopped")
}
