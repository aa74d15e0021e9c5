package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

func newTestReader(b []byte) *ChunkReader {
	return NewChunkReader(bufio.NewReader(bytes.NewReader(b)), remux.NewPool(), 0, 0)
}

// Bytes from RTMP spec 1.0 §5.3.2 examples and hand-built headers.
func TestChunkReaderHeaders(t *testing.T) {
	type want struct {
		typ  uint8
		msid uint32
		ts   uint32
		body string
	}
	tests := []struct {
		name string
		in   []byte
		want []want
	}{
		{
			// Spec example 1: audio messages with constant delta, fmt 0, 2, 3.
			name: "fmt0 fmt2 fmt3-new-message",
			in: concat(
				[]byte{0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x04, 0x08, 0x01, 0x00, 0x00, 0x00}, []byte("aaaa"),
				[]byte{0xC3}, []byte("bbbb"), // fmt3 after fmt0: delta = the fmt-0 timestamp
				[]byte{0x43, 0x00, 0x00, 0x14, 0x00, 0x00, 0x04, 0x08}, []byte("cccc"), // fmt1 delta 20
				[]byte{0xC3}, []byte("dddd"), // fmt3: delta 20 again
				[]byte{0xC3}, []byte("eeee"),
			),
			want: []want{
				{8, 1, 1000, "aaaa"}, {8, 1, 2000, "bbbb"}, {8, 1, 2020, "cccc"}, {8, 1, 2040, "dddd"}, {8, 1, 2060, "eeee"},
			},
		},
		{
			name: "message split over chunks of 4 after set chunk size",
			in: concat(
				[]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 4}, // set chunk size 4
				[]byte{0x06, 0, 0, 10, 0, 0, 10, 9, 1, 0, 0, 0}, []byte("0123"),
				[]byte{0xC6}, []byte("4567"),
				[]byte{0xC6}, []byte("89"),
			),
			want: []want{{1, 0, 0, "\x00\x00\x00\x04"}, {9, 1, 10, "0123456789"}},
		},
		{
			name: "two-byte and three-byte csid",
			in: concat(
				[]byte{0x00, 0x00, 0, 0, 5, 0, 0, 1, 8, 2, 0, 0, 0}, []byte("x"), // csid 64
				[]byte{0x01, 0xFF, 0xFF, 0, 0, 6, 0, 0, 1, 9, 3, 0, 0, 0}, []byte("y"), // csid 65599
			),
			want: []want{{8, 2, 5, "x"}, {9, 3, 6, "y"}},
		},
		{
			name: "extended timestamp repeated in fmt3 continuation (ffmpeg, spec)",
			in: concat(
				[]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 4},
				[]byte{0x06, 0xFF, 0xFF, 0xFF, 0, 0, 6, 9, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00}, []byte("abcd"),
				[]byte{0xC6, 0x01, 0x00, 0x00, 0x00}, []byte("ef"),
			),
			want: []want{{1, 0, 0, "\x00\x00\x00\x04"}, {9, 1, 0x01000000, "abcdef"}},
		},
		{
			name: "extended timestamp omitted in fmt3 continuation (librtmp)",
			in: concat(
				[]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 4},
				[]byte{0x06, 0xFF, 0xFF, 0xFF, 0, 0, 6, 9, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00}, []byte("abcd"),
				[]byte{0xC6}, []byte("ef"),
			),
			want: []want{{1, 0, 0, "\x00\x00\x00\x04"}, {9, 1, 0x01000000, "abcdef"}},
		},
		{
			name: "interleaved chunk streams",
			in: concat(
				[]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 2},
				[]byte{0x06, 0, 0, 1, 0, 0, 4, 9, 1, 0, 0, 0}, []byte("v1"),
				[]byte{0x04, 0, 0, 2, 0, 0, 2, 8, 1, 0, 0, 0}, []byte("a1"),
				[]byte{0xC6}, []byte("v2"),
			),
			want: []want{{1, 0, 0, "\x00\x00\x00\x02"}, {8, 1, 2, "a1"}, {9, 1, 1, "v1v2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := newTestReader(tt.in)
			for i, w := range tt.want {
				m, h, err := cr.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if h.Type == typeSetChunkSize {
					if err := cr.SetChunkSize(binary.BigEndian.Uint32(m.Payload)); err != nil {
						t.Fatal(err)
					}
				}
				got := want{h.Type, h.StreamID, m.Timestamp, string(m.Payload)}
				if got != w {
					t.Errorf("message %d = %+v, want %+v", i, got, w)
				}
				m.Release()
			}
			if _, _, err := cr.ReadMessage(); err != io.EOF {
				t.Errorf("after last message: err %v, want EOF", err)
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestChunkReaderRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"lying length beyond limit", []byte{0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0}, ErrProtocol},
		{"first header not type 0", []byte{0x46, 0, 0, 0, 0, 0, 4, 9}, ErrProtocol},
		{"truncated header", []byte{0x06, 0, 0}, io.ErrUnexpectedEOF},
		{"truncated payload", []byte{0x06, 0, 0, 0, 0, 0, 10, 9, 1, 0, 0, 0, 'a'}, io.ErrUnexpectedEOF},
		{"new header mid-message", concat(
			[]byte{0x06, 0, 0, 0, 0, 0x02, 0x00, 9, 1, 0, 0, 0}, bytes.Repeat([]byte{'a'}, 128),
			[]byte{0x46, 0, 0, 0, 0, 0, 4, 9}), ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := NewChunkReader(bufio.NewReader(bytes.NewReader(tt.in)), remux.NewPool(), 1<<20, 0)
			var err error
			for err == nil {
				var m *remux.Message
				m, _, err = cr.ReadMessage()
				if m != nil {
					m.Release()
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetChunkSizeBounds(t *testing.T) {
	cr := newTestReader(nil)
	for _, n := range []uint32{0, 0x80000000, DefaultMaxChunkSize + 1} {
		if err := cr.SetChunkSize(n); !errors.Is(err, ErrProtocol) {
			t.Errorf("SetChunkSize(%#x) = %v, want protocol error", n, err)
		}
	}
	if err := cr.SetChunkSize(4096); err != nil || cr.chunkSize != 4096 {
		t.Errorf("SetChunkSize(4096) = %v, size %d", err, cr.chunkSize)
	}
}

// Writer and reader agree for every header form the writer chooses.
func TestChunkWriterRoundTrip(t *testing.T) {
	w := newChunkWriter()
	w.chunkSize = 100
	msgs := []struct {
		csid uint32
		h    Header
		body []byte
	}{
		{csidVideo, Header{Type: 9, StreamID: 1, Timestamp: 0}, bytes.Repeat([]byte{1}, 250)},
		{csidVideo, Header{Type: 9, StreamID: 1, Timestamp: 40}, bytes.Repeat([]byte{2}, 250)},        // fmt 2
		{csidVideo, Header{Type: 9, StreamID: 1, Timestamp: 80}, bytes.Repeat([]byte{3}, 10)},         // fmt 1
		{csidVideo, Header{Type: 9, StreamID: 1, Timestamp: 20}, bytes.Repeat([]byte{4}, 10)},         // backwards: fmt 0
		{csidAudio, Header{Type: 8, StreamID: 1, Timestamp: 0x1234567}, bytes.Repeat([]byte{5}, 230)}, // extended
		{csidAudio, Header{Type: 8, StreamID: 1, Timestamp: 0x1234567 + 23}, bytes.Repeat([]byte{6}, 230)},
		{csidStatus, Header{Type: 18, StreamID: 2, Timestamp: 7}, []byte("x")},
	}
	var wire []byte
	var vb vecBuilder
	for i, m := range msgs {
		if i%2 == 0 {
			wire = w.appendMessage(wire, m.csid, m.h, m.body)
		} else {
			vb.reset()
			vb.add(w, m.csid, m.h, m.body)
			var buf bytes.Buffer
			vb.writeTo(&buf)
			wire = append(wire, buf.Bytes()...)
		}
	}
	cr := newTestReader(wire)
	cr.SetChunkSize(100)
	for i, want := range msgs {
		m, h, err := cr.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if h.Type != want.h.Type || h.StreamID != want.h.StreamID || m.Timestamp != want.h.Timestamp || !bytes.Equal(m.Payload, want.body) {
			t.Errorf("message %d: got type %d msid %d ts %d len %d, want %+v len %d", i, h.Type, h.StreamID, m.Timestamp, len(m.Payload), want.h, len(want.body))
		}
		m.Release()
	}
}
