//go:build unix

package rtmp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// waitBuffered gives loopback time to deliver what was written (it takes
// microseconds).
func waitBuffered() { time.Sleep(50 * time.Millisecond) }

// A publisher's messages that are all in the kernel when the reader wakes
// are read with one syscall, not two or three per 4 KB chunk as through the
// 1 KiB bufio.Reader alone; the buffer goes back to the pool once consumed.
func TestWireReaderOneReadPerArrival(t *testing.T) {
	srv, cli := tcpPair(t)
	w := newChunkWriter()
	w.chunkSize = 4096 // ffmpeg's
	var wire []byte
	var bodies [][]byte
	for i := range 6 { // 25 fps video frames of 7 KB and AAC frames between
		h := Header{Type: typeVideo, StreamID: 1, Timestamp: uint32(40 * i), Length: 7 << 10}
		if i%2 == 1 {
			h = Header{Type: typeAudio, StreamID: 1, Timestamp: uint32(40 * i), Length: 400}
		}
		body := bytes.Repeat([]byte{byte(i)}, int(h.Length))
		csid := uint32(csidVideo)
		if h.Type == typeAudio {
			csid = csidAudio
		}
		wire = w.appendMessage(wire, csid, h, body)
		bodies = append(bodies, body)
	}
	if _, err := cli.Write(wire); err != nil {
		t.Fatal(err)
	}
	waitBuffered()
	wr, ok := newWireReader(srv).(*wireReader)
	if !ok {
		t.Fatal("a TCP conn did not get a wireReader")
	}
	cr := NewChunkReader(bufio.NewReaderSize(wr, 1<<10), remux.NewPool(), 0, 0)
	defer cr.Close()
	if err := cr.SetChunkSize(4096); err != nil {
		t.Fatal(err)
	}
	for i, want := range bodies {
		m, _, err := cr.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m.Payload, want) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(m.Payload), len(want))
		}
		m.Release()
	}
	if wr.reads != 1 {
		t.Errorf("%d bytes (%d messages in 4 KB chunks) already in the kernel took %d reads, want 1", len(wire), len(bodies), wr.reads)
	}
	if wr.buf != nil {
		t.Error("the reader holds its buffer with every byte consumed")
	}
}

func TestWireReaderBufferReleased(t *testing.T) {
	srv, cli := tcpPair(t)
	wr := newWireReader(srv).(*wireReader)
	cli.Write([]byte("hello"))
	p := make([]byte, 3)
	if n, err := io.ReadFull(wr, p); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	if wr.buf == nil {
		t.Fatal("buffer released with 2 bytes unread")
	}
	if n, err := io.ReadFull(wr, p[:2]); n != 2 || err != nil || string(p[:2]) != "lo" {
		t.Fatal(n, err, string(p[:2]))
	}
	if wr.buf != nil {
		t.Fatal("a drained reader still holds its buffer")
	}
}

// Deadlines, Close and the peer's end arrive as they would through the
// net.Conn: the read loop's timeout and ordinary-close checks depend on it.
func TestWireReaderErrors(t *testing.T) {
	srv, cli := tcpPair(t)
	wr := newWireReader(srv)
	srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := wr.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline: %v, want a timeout", err)
	}
	srv.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() { _, err := wr.Read(make([]byte, 10)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) || !ordinaryClose(err) {
		t.Fatalf("closed while reading: %v, want net.ErrClosed", err)
	}

	srv2, cli2 := tcpPair(t)
	wr2 := newWireReader(srv2)
	cli2.Write([]byte("x"))
	cli2.Close()
	p := make([]byte, 10)
	if n, err := wr2.Read(p); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := wr2.Read(p); err != io.EOF {
		t.Fatalf("after the peer's close: %v, want io.EOF", err)
	}
	_ = cli
}

// A reset by the peer is an ordinary close, as through the net.Conn.
func TestWireReaderReset(t *testing.T) {
	srv, cli := tcpPair(t)
	wr := newWireReader(srv)
	cli.(*net.TCPConn).SetLinger(0)
	srv.Write([]byte("unread by the client")) // so its close sends RST
	time.Sleep(10 * time.Millisecond)
	cli.Close()
	time.Sleep(10 * time.Millisecond)
	_, err := wr.Read(make([]byte, 10))
	if err == nil || !ordinaryClose(err) {
		t.Fatalf("after a reset: %v, want an ordinary close", err)
	}
}

func TestWireReaderNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if r := newWireReader(a); r != io.Reader(a) {
		t.Fatalf("net.Pipe got %T, want the conn itself", r)
	}
}

// BenchmarkWireReader reads benchStream (1000 messages, chunk size 4096)
// from a loopback TCP socket through the connection's read path (1 KiB
// bufio.Reader over a wireReader), the peer writing the whole stream per
// op. reads/msg is the read syscalls that returned bytes per message.
func BenchmarkWireReader(b *testing.B) {
	wire, msgs := benchStream(1000, DefaultChunkSize, 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			if _, err := cli.Write(wire); err != nil {
				return
			}
		}
	}()
	wr := newWireReader(srv).(*wireReader)
	cr := NewChunkReader(bufio.NewReaderSize(wr, 1<<10), remux.NewPool(), 0, 0)
	defer cr.Close()
	if err := cr.SetChunkSize(DefaultChunkSize); err != nil {
		b.Fatal(err)
	}
	readAll := func() {
		for range msgs {
			m, _, err := cr.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			m.Release()
		}
	}
	readAll()
	reads := wr.reads
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		readAll()
	}
	b.ReportMetric(float64(wr.reads-reads)/float64(b.N)/float64(len(msgs)), "reads/msg")
}
