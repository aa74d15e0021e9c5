package rtmp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// captureConn is a net.Conn that keeps what is written to it.
type captureConn struct {
	discardConn
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) { return c.buf.Write(p) }

var _ net.Conn = (*captureConn)(nil)

// sentMessage is one message a player wrote, as a client reads it.
type sentMessage struct {
	typ    uint8
	ts     uint32
	status string // onStatus code, or user control "uc<event>"
	body   []byte
}

func readSent(t *testing.T, b []byte) []sentMessage {
	t.Helper()
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(b)), remux.NewPool(), 1<<20, 1<<24)
	if err := cr.SetChunkSize(DefaultChunkSize); err != nil {
		t.Fatal(err)
	}
	var out []sentMessage
	for {
		m, h, err := cr.ReadMessage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading what the player wrote: %v", err)
		}
		s := sentMessage{typ: h.Type, ts: h.Timestamp, body: bytes.Clone(m.Payload)}
		switch h.Type {
		case typeUserControl:
			s.status = "uc" + string('0'+rune(m.Payload[1]))
		case typeCommandAMF0:
			if vals, _ := amf.DecodeAMF0(m.Payload); len(vals) >= 4 {
				info, _ := vals[3].(amf.Object)
				s.status = info.String("code")
			}
		}
		m.Release()
		out = append(out, s)
	}
}

// TestPlayerGraceSplice: what a player writes across a publisher's drop
// and republish (docs/grace.md): nothing at the drop, StreamBegin and
// PublishNotify at the republish, identical headers left out, and the new
// session's timestamps after the old ones by the time that passed.
func TestPlayerGraceSplice(t *testing.T) {
	srv := NewServer(ServerConfig{}, nil)
	nc := &captureConn{}
	c := newConn(srv, nc)
	c.cw.chunkSize = DefaultChunkSize
	p := &player{c: c, streamID: 1}

	meta := []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
	vh := []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f}
	ah := []byte{0xAF, 0x00, 0x12, 0x10}
	key := []byte{0x17, 0x01, 0, 0, 0, 'K'}
	inter := []byte{0x27, 0x01, 0, 0, 0, 'I'}
	m := func(kind remux.Kind, ts uint32, body []byte) *remux.Message {
		msg := remux.NewMessage(kind, ts, bytes.Clone(body))
		msg.Parse()
		return msg
	}
	write := func(msgs ...*remux.Message) {
		t.Helper()
		start := time.Now()
		if err := p.write(msgs); err != nil {
			t.Fatal(err)
		}
		if p.wroteMedia { // as player.run does
			p.wroteMedia, p.mediaAt = false, start
		}
		for _, msg := range msgs {
			msg.Release()
		}
	}

	// The first session, from 5000 ms: rebased to start at 0.
	write(m(remux.KindData, 5000, meta), m(remux.KindVideo, 5000, vh), m(remux.KindAudio, 5000, ah),
		m(remux.KindVideo, 5000, key), m(remux.KindVideo, 5040, inter))
	write(m(remux.KindStreamEnd, 0, nil))
	first := nc.buf.Len()
	time.Sleep(300 * time.Millisecond)
	// The new publisher: same headers, timestamps from 0.
	write(m(remux.KindStreamStart, 0, nil), m(remux.KindData, 0, meta), m(remux.KindVideo, 0, vh),
		m(remux.KindAudio, 0, ah), m(remux.KindVideo, 0, key), m(remux.KindVideo, 40, inter))

	sent := readSent(t, nc.buf.Bytes())
	atDrop := readSent(t, nc.buf.Bytes()[:first])
	if n := len(atDrop); n != 5 {
		t.Errorf("first session and drop: %d messages, want the 5 of the session and nothing for the drop: %+v", n, atDrop)
	}
	var codes []string
	var media []uint32
	for _, s := range sent {
		switch {
		case s.status != "":
			codes = append(codes, s.status)
		case s.typ == typeVideo && s.body[1] == 1: // coded frames
			media = append(media, s.ts)
		}
	}
	if got, want := len(codes), 2; got != want || codes[0] != "uc0" || codes[1] != "NetStream.Play.PublishNotify" {
		t.Errorf("status and user control messages %q, want StreamBegin (uc0) and PublishNotify only", codes)
	}
	if got := len(sent) - len(atDrop); got != 2+2 {
		t.Errorf("republish wrote %d messages, want StreamBegin, PublishNotify and the 2 frames (identical headers left out)", got)
	}
	if len(media) != 4 || media[0] != 0 || media[1] != 40 {
		t.Fatalf("video frame timestamps %v, want 0 40 then the new session", media)
	}
	if step := media[2] - media[1]; step < 300 || step > 600 {
		t.Errorf("new session starts %d ms after the last frame, want about the 300 ms that passed", step)
	}
	if media[3]-media[2] != 40 {
		t.Errorf("new session frames %d -> %d, want 40 ms apart", media[2], media[3])
	}
}

func TestResumeGap(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		last time.Time
		want uint32
	}{
		{time.Time{}, 0},
		{now, 1},
		{now.Add(-1500 * time.Millisecond), 1500},
		{now.Add(-time.Hour), maxResumeGap},
	} {
		if got := resumeGap(c.last, now); got != c.want {
			t.Errorf("resumeGap(now-%v) = %d, want %d", now.Sub(c.last), got, c.want)
		}
	}
}
