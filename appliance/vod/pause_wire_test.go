package vod

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
	"github.com/tapedeck/tapedeck/rtmp"
)

// Recorded plays over the wire, each paused and unpaused 50 times at
// random intervals of 0-30 ms while the session sends (each unpause grants
// the client's lead again, so a burst is in flight around every pause);
// several players at once, as a race that one play may miss by chance is
// then seen. Read from the bytes the server sent: every pause is answered
// StreamEOF and NetStream.Pause.Notify, every unpause StreamBegin and
// NetStream.Unpause.Notify, in the order sent; no message of the recording
// lies between a Pause.Notify and the next Unpause.Notify; and the media is
// the recording's, every message once and in order, so what follows an
// unpause continues where the pause stopped.
func TestPauseOrderedWithMediaOnTheWire(t *testing.T) {
	const players = 6
	clip, want := pauseTClip(t, 600)
	srvAddr := pauseTServer(t, clip)
	for i := range players {
		t.Run(fmt.Sprintf("player%d", i), func(t *testing.T) {
			t.Parallel()
			pauseTCycles(t, srvAddr, want)
		})
	}
}

// pauseTCycles plays the clip through a tee, pauses and unpauses it, and
// checks the server's bytes against want.
func pauseTCycles(t *testing.T, srvAddr string, want []pauseTMedia) {
	const cycles = 50
	proxy := pauseTTee(t, srvAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, "rtmp://"+proxy.addr+"/vod/clip.flv", rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Play(ctx, name); err != nil {
		c.Close()
		t.Fatal(err)
	}
	// The client drains the connection; the assertions read the bytes.
	// Generous: six plays at once under -race on a loaded CI machine.
	c.SetReadDeadline(time.Now().Add(90 * time.Second))
	unpaused := make(chan struct{}, cycles)
	media := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	readDone := make(chan struct{})
	hangUp := sync.OnceFunc(func() {
		c.NetConn().Close() // ends ReadPlay; Close only after it returned
		<-readDone
		c.Close()
	})
	defer hangUp()
	go func() {
		defer close(readDone)
		for {
			m, st, err := c.ReadPlay()
			if err != nil {
				readErr <- err
				return
			}
			if m != nil {
				isMedia := m.Kind.IsMedia() // not |RtmpSampleAccess or onMetaData
				m.Release()
				if !isMedia {
					continue
				}
				select {
				case media <- struct{}{}:
				default:
				}
			} else if st.String("code") == "NetStream.Unpause.Notify" {
				unpaused <- struct{}{}
			}
		}
	}()
	select {
	case <-media:
	case err := <-readErr:
		t.Fatalf("before the first media message: %v", err)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	for range cycles {
		time.Sleep(time.Duration(rnd.IntN(31)) * time.Millisecond)
		if err := c.Pause(true, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rnd.IntN(31)) * time.Millisecond)
		if err := c.Pause(false, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cycles {
		select {
		case <-unpaused:
		case err := <-readErr:
			hangUp()
			t.Fatalf("after %d of %d Unpause.Notify: %v; the server's last messages: %v", i, cycles, err, pauseTTail(t, proxy.wait()))
		}
	}
	// Media after the last unpause, to see it continue.
	for len(media) > 0 {
		<-media
	}
	select {
	case <-media:
	case err := <-readErr:
		hangUp()
		t.Fatalf("no media after the last unpause: %v; the server's last messages: %v", err, pauseTTail(t, proxy.wait()))
	}
	hangUp()
	wire := proxy.wait()

	evs := pauseTParse(t, wire)
	var got []pauseTMedia
	pauses, unpauses := 0, 0
	paused := false
	for i, e := range evs {
		switch {
		case e.status == "NetStream.Pause.Notify":
			if paused {
				t.Errorf("event %d: a second Pause.Notify before an Unpause.Notify", i)
			}
			if i == 0 || evs[i-1].control != "StreamEOF" {
				t.Errorf("event %d: Pause.Notify after %v, want StreamEOF just before it", i, evs[max(i-1, 0)])
			}
			paused = true
			pauses++
		case e.status == "NetStream.Unpause.Notify":
			if !paused {
				t.Errorf("event %d: Unpause.Notify without a Pause.Notify before it", i)
			}
			if evs[i-1].control != "StreamBegin" {
				t.Errorf("event %d: Unpause.Notify after %v, want StreamBegin just before it", i, evs[i-1])
			}
			paused = false
			unpauses++
		case e.media != nil:
			if paused {
				t.Errorf("event %d: %v between Pause.Notify %d and its Unpause.Notify", i, *e.media, pauses)
			}
			if !e.media.header {
				got = append(got, *e.media)
			}
		}
	}
	if pauses != cycles || unpauses != cycles {
		t.Errorf("%d Pause.Notify and %d Unpause.Notify, want %d of each", pauses, unpauses, cycles)
	}
	if len(got) > len(want) {
		t.Fatalf("%d media messages, the recording has %d", len(got), len(want))
	}
	for i, m := range got {
		if m.kind != want[i].kind || m.ts != want[i].ts {
			t.Fatalf("media message %d is %v, want %v (the recording's, in order: nothing skipped or repeated across a pause)", i, m, want[i])
		}
	}
	t.Logf("%d media messages in %d pause cycles, the last at %d ms", len(got), cycles, got[len(got)-1].ts)
}

type pauseTMedia struct {
	kind   remux.Kind
	ts     uint32
	header bool // a sequence header (the session sends them again at will)
}

func (m pauseTMedia) String() string { return fmt.Sprintf("%v@%d", m.kind, m.ts) }

// pauseTEvent is one message the server sent on the play: a media
// message, a user control event or an onStatus code.
type pauseTEvent struct {
	media   *pauseTMedia
	control string
	status  string
}

func (e pauseTEvent) String() string {
	switch {
	case e.media != nil:
		return e.media.String()
	case e.control != "":
		return e.control
	}
	return e.status
}

// pauseTClip writes a synthetic H.264/AAC FLV of secs seconds (25 fps
// video with a keyframe every second, AAC every 23 ms; the session only
// reads the tag headers) and returns its path and its media messages in
// file order, sequence headers left out.
func pauseTClip(t *testing.T, secs int) (string, []pauseTMedia) {
	t.Helper()
	tags := []testenv.FLVTag{
		{Type: 9, Body: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80}},
		{Type: 8, Body: []byte{0xAF, 0, 0x12, 0x10}},
	}
	var want []pauseTMedia
	end := uint32(secs * 1000)
	for v, a := uint32(0), uint32(0); v < end || a < end; {
		if v <= a {
			body := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a}
			if v%1000 == 0 {
				body = []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88}
			}
			tags = append(tags, testenv.FLVTag{Type: 9, TS: v, Body: body})
			want = append(want, pauseTMedia{kind: remux.KindVideo, ts: v})
			v += 40
		} else {
			tags = append(tags, testenv.FLVTag{Type: 8, TS: a, Body: []byte{0xAF, 1, 0x21, 0x10, 0x04}})
			want = append(want, pauseTMedia{kind: remux.KindAudio, ts: a})
			a += 23
		}
	}
	p := filepath.Join(t.TempDir(), "clip.flv")
	if err := os.WriteFile(p, testenv.FLV(tags), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, want
}

// pauseTHandler plays the clip to every player.
type pauseTHandler struct{ clip string }

func (h pauseTHandler) OnConnect(*rtmp.ConnInfo) error { return nil }

func (h pauseTHandler) OnPublish(*rtmp.ConnInfo, *rtmp.StreamRequest) (rtmp.Publisher, error) {
	return nil, rtmp.ErrUnauthorized
}

func (h pauseTHandler) OnPlay(ci *rtmp.ConnInfo, req *rtmp.StreamRequest) (rtmp.Subscription, error) {
	return Open(Target{Path: h.clip, Rel: "clip.flv"}, Options{Log: slog.New(slog.DiscardHandler)})
}

// pauseTServer serves the clip over RTMP with the default configuration.
func pauseTServer(t *testing.T, clip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rtmp.NewServer(rtmp.ServerConfig{Logger: slog.New(slog.DiscardHandler)}, pauseTHandler{clip})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// pauseTProxy forwards one connection to the server and keeps a copy of
// every byte the server sent.
type pauseTProxy struct {
	addr string
	buf  bytes.Buffer
	done chan struct{}
}

func pauseTTee(t *testing.T, target string) *pauseTProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pauseTProxy{addr: ln.Addr().String(), done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(p.done)
		cc, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer cc.Close()
		sc, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer sc.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(sc, cc)
			sc.Close()
		}()
		io.Copy(io.MultiWriter(cc, &p.buf), sc)
		cc.Close()
		wg.Wait()
	}()
	return p
}

// wait returns what the server sent once the connection is closed.
func (p *pauseTProxy) wait() []byte {
	<-p.done
	return p.buf.Bytes()
}

// pauseTTail is the last messages the server sent, for a failure.
func pauseTTail(t *testing.T, wire []byte) []pauseTEvent {
	evs := pauseTParse(t, wire)
	return evs[max(len(evs)-12, 0):]
}

// pauseTParse reads the server's side of the connection after the
// handshake (S0, S1, S2) and returns what it sent on the play: media,
// user control events, onStatus codes.
func pauseTParse(t *testing.T, wire []byte) []pauseTEvent {
	t.Helper()
	const handshake = 1 + 2*1536
	if len(wire) < handshake {
		t.Fatalf("only %d bytes from the server", len(wire))
	}
	cr := rtmp.NewChunkReader(bufio.NewReader(bytes.NewReader(wire[handshake:])), remux.NewPool(), 0, 0)
	var evs []pauseTEvent
	for {
		m, h, err := cr.ReadMessage()
		if err != nil {
			// The capture ends where the client hung up, maybe within a chunk.
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("parsing the server's bytes: %v", err)
			}
			return evs
		}
		p := m.Payload
		switch h.Type {
		case 1: // Set Chunk Size
			if err := cr.SetChunkSize(binary.BigEndian.Uint32(p)); err != nil {
				t.Fatal(err)
			}
		case 4: // user control
			switch binary.BigEndian.Uint16(p) {
			case 0:
				evs = append(evs, pauseTEvent{control: "StreamBegin"})
			case 1:
				evs = append(evs, pauseTEvent{control: "StreamEOF"})
			}
		case 8, 9:
			kind := remux.Kind(h.Type)
			evs = append(evs, pauseTEvent{media: &pauseTMedia{kind: kind, ts: h.Timestamp, header: len(p) > 1 && p[1] == 0}})
		case 18:
			evs = append(evs, pauseTEvent{media: &pauseTMedia{kind: remux.KindData, ts: h.Timestamp, header: true}})
		case 20:
			vals, _ := amf.DecodeAMF0(p)
			if len(vals) >= 4 && vals[0] == "onStatus" {
				if info, ok := vals[3].(amf.Object); ok {
					evs = append(evs, pauseTEvent{status: info.String("code")})
				}
			}
		}
		m.Release()
	}
}

// Next marks every Pause call once, in order, after what was due before
// it: pause, unpause, pause before a Next give three markers and no media
// after them; the unpause that follows is marked before the next frame,
// which is the one after the last frame sent.
func TestSessionMarksEveryPause(t *testing.T) {
	clip, want := pauseTClip(t, 20)
	s, err := Open(Target{Path: clip, Rel: "clip.flv"}, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetBufferLength(0)
	kinds := func(msgs []*remux.Message) (ks []remux.Kind, last uint32) {
		for _, m := range msgs {
			ks = append(ks, m.Kind)
			if m.Kind.IsMedia() && !m.IsSequenceHeader() {
				last = m.Timestamp
			}
			m.Release()
		}
		return ks, last
	}
	_, last := kinds(vodTNextRaw(t, s))
	s.Pause(true, 0)
	s.Pause(false, 0)
	s.Pause(true, 0)
	ks, _ := kinds(vodTNextRaw(t, s))
	if len(ks) != 3 || ks[0] != remux.KindPauseNotify || ks[1] != remux.KindUnpauseNotify || ks[2] != remux.KindPauseNotify {
		t.Fatalf("after pause, unpause, pause: %v, want the three markers and nothing after", ks)
	}
	got := make(chan []*remux.Message)
	go func() { msgs, _ := s.Next(nil); got <- msgs }()
	select {
	case msgs := <-got:
		ks, _ := kinds(msgs)
		t.Fatalf("paused, Next gave %v", ks)
	case <-time.After(200 * time.Millisecond):
	}
	s.Pause(false, 0)
	msgs := <-got
	if len(msgs) < 2 || msgs[0].Kind != remux.KindUnpauseNotify || !msgs[1].Kind.IsMedia() {
		ks, _ := kinds(msgs)
		t.Fatalf("after unpause: %v, want the marker, then media", ks)
	}
	next := msgs[1].Timestamp
	kinds(msgs)
	i := 0
	for i < len(want) && want[i].ts <= last {
		i++
	}
	if next < last || next > want[i].ts {
		t.Errorf("after unpause the media goes on at %d ms, the last before the pause was at %d", next, last)
	}
}

// vodTNextRaw is one Next, its messages unreleased.
func vodTNextRaw(t *testing.T, s *Session) []*remux.Message {
	t.Helper()
	msgs, err := s.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// An unpause goes on at the pace the pause stopped: the client still holds
// the lead it was sent, so what follows the unpause is only what became
// due, not a second lead (which the session used to send at every unpause:
// a client pausing often was handed the whole lead again each time).
func TestUnpauseKeepsThePace(t *testing.T) {
	clip, _ := pauseTClip(t, 20)
	s, err := Open(Target{Path: clip, Rel: "clip.flv"}, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetBufferLength(3000) // a lead of 4 s
	type batch struct {
		msgs []*remux.Message
		err  error
	}
	next := make(chan batch)
	ask := func() { go func() { m, err := s.Next(nil); next <- batch{m, err} }() }
	// lastIn reads what Next hands over within d, and the highest media
	// timestamp in it (0 if none).
	lastIn := func(d time.Duration) (last uint32) {
		deadline := time.After(d)
		for {
			select {
			case b := <-next:
				if b.err != nil {
					t.Fatal(b.err)
				}
				for _, m := range b.msgs {
					if m.Kind.IsMedia() && m.Timestamp > last {
						last = m.Timestamp
					}
					m.Release()
				}
				ask()
			case <-deadline:
				return last
			}
		}
	}
	ask()
	sent := lastIn(time.Second) // the lead and a second of play: about 5 s
	if sent < 4500 || sent > 5500 {
		t.Fatalf("in the first second the session sent media up to %d ms, want about 5000 (a 4 s lead)", sent)
	}
	s.Pause(true, float64(sent))
	if got := lastIn(500 * time.Millisecond); got > sent+200 {
		t.Fatalf("paused, the session went on to %d ms", got)
	}
	s.Pause(false, float64(sent))
	got := lastIn(500 * time.Millisecond)
	if got == 0 {
		t.Fatal("nothing sent in the 500 ms after the unpause")
	}
	// 500 ms of play, and the 100 ms the session hands over early.
	if got > sent+800 {
		t.Errorf("in the 500 ms after the unpause the session sent media up to %d ms, %d ms past what it had sent before the pause; want at most about 600 (the lead is not sent again)", got, got-sent)
	}
	// The last Next asked for ends with the close.
	s.Close()
	for b := range next {
		for _, m := range b.msgs {
			m.Release()
		}
		if b.err != nil {
			break
		}
		ask()
	}
}
