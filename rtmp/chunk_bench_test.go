package rtmp

import (
	"bufio"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/tapedeck/tapedeck/remux"
)

// benchMsg is one message of a generated chunk stream.
type benchMsg struct {
	csid uint32
	h    Header
	body []byte
}

// benchStream generates the wire bytes of a publisher's media: n messages of
// 25 fps video (10-60 KB, a 60 KB keyframe every 50 frames, csid 7) and
// ~43/s AAC audio (400 B, csid 6), all on message stream 1, chunked at
// chunkSize by our chunkWriter (type 0 first, then type 1 / type 2 headers,
// type 3 continuations), with audio messages interleaved between the chunks
// of the video message in flight, as publishers that multiplex do. The
// stream ends on a message boundary, so it can be replayed in a loop.
func benchStream(n int, chunkSize uint32, seed uint64) ([]byte, []benchMsg) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	w := newChunkWriter()
	w.chunkSize = chunkSize
	var msgs []benchMsg
	var vts, ats uint32
	frame := 0
	newVideo := func() benchMsg {
		size := 10<<10 + rng.IntN(20<<10)
		hdr := byte(0x27)
		if frame%50 == 0 {
			size, hdr = 60<<10, 0x17
		}
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		body[0], body[1], body[2], body[3], body[4] = hdr, 0x01, 0, 0, 0
		m := benchMsg{csidVideo, Header{Type: typeVideo, StreamID: 1, Timestamp: vts, Length: uint32(size)}, body}
		frame++
		vts += 40
		return m
	}
	newAudio := func() benchMsg {
		body := make([]byte, 400)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		body[0], body[1] = 0xAF, 0x01
		m := benchMsg{csidAudio, Header{Type: typeAudio, StreamID: 1, Timestamp: ats, Length: 400}, body}
		ats += 23
		return m
	}

	var wire []byte
	for len(msgs) < n {
		v := newVideo()
		msgs = append(msgs, v)
		dst, tsField, ext := w.appendFirstHeader(wire, v.csid, v.h)
		wire = dst
		p := v.body
		for {
			k := min(uint32(len(p)), w.chunkSize)
			wire = append(wire, p[:k]...)
			p = p[k:]
			if len(p) == 0 {
				break
			}
			// Audio due before the next video frame goes out between chunks.
			if ats < vts && len(msgs) < n {
				a := newAudio()
				msgs = append(msgs, a)
				wire = w.appendMessage(wire, a.csid, a.h, a.body)
			}
			wire = appendContHeader(wire, v.csid, ext, tsField)
		}
		for ats < vts && len(msgs) < n {
			a := newAudio()
			msgs = append(msgs, a)
			wire = w.appendMessage(wire, a.csid, a.h, a.body)
		}
	}
	return wire, msgs
}

// loopReader replays data forever without allocating.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off += n
	if l.off == len(l.data) {
		l.off = 0
	}
	return n, nil
}

// completion order of benchStream's messages: an audio message interleaved
// between video chunks completes before the video message it interrupts.
func benchCompletionOrder(msgs []benchMsg) []benchMsg {
	var out []benchMsg
	var pendingVideo *benchMsg
	for i := range msgs {
		m := &msgs[i]
		if m.csid == csidVideo {
			if pendingVideo != nil {
				out = append(out, *pendingVideo)
			}
			pendingVideo = m
			continue
		}
		out = append(out, *m)
	}
	if pendingVideo != nil {
		out = append(out, *pendingVideo)
	}
	return out
}

// TestBenchStreamRoundTrip checks the generated stream reads back as
// generated, twice in a row through the loop, so the benchmark measures a
// correct parse.
func TestBenchStreamRoundTrip(t *testing.T) {
	wire, msgs := benchStream(300, DefaultChunkSize, 1)
	want := benchCompletionOrder(msgs)
	cr := NewChunkReader(bufio.NewReaderSize(&loopReader{data: wire}, 16<<10), remux.NewPool(), 0, 0)
	if err := cr.SetChunkSize(DefaultChunkSize); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for i, w := range want {
			m, h, err := cr.ReadMessage()
			if err != nil {
				t.Fatalf("round %d message %d: %v", round, i, err)
			}
			if h.Type != w.h.Type || h.StreamID != w.h.StreamID || m.Timestamp != w.h.Timestamp || string(m.Payload) != string(w.body) {
				t.Fatalf("round %d message %d: got type %d msid %d ts %d len %d, want %+v", round, i, h.Type, h.StreamID, m.Timestamp, len(m.Payload), w.h)
			}
			if h.Type == typeVideo && m.Frame.Keyframe != (w.body[0] == 0x17) {
				t.Fatalf("message %d: keyframe %v", i, m.Frame.Keyframe)
			}
			m.Release()
		}
	}
	if got := cr.BytesRead(); got != 2*uint64(len(wire)) {
		t.Errorf("BytesRead %d, want %d", got, 2*len(wire))
	}
}

// TestChunkReaderSteadyStateAllocs asserts what BenchmarkChunkReader reports:
// once the pool is warm, reading and releasing messages allocates nothing.
func TestChunkReaderSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	wire, msgs := benchStream(200, DefaultChunkSize, 2)
	cr := NewChunkReader(bufio.NewReaderSize(&loopReader{data: wire}, 16<<10), remux.NewPool(), 0, 0)
	cr.SetChunkSize(DefaultChunkSize)
	readAll := func() {
		for range msgs {
			m, _, err := cr.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
		}
	}
	readAll()
	if a := testing.AllocsPerRun(20, readAll); a != 0 {
		t.Errorf("%v allocations per %d messages, want 0", a, len(msgs))
	}
}

// BenchmarkChunkReader reads a publisher's stream (1000 messages, video
// 10-60 KB and 400 B audio interleaved on 2 csids, chunk size 4096) from
// memory, releasing each message. One op is the whole stream.
func BenchmarkChunkReader(b *testing.B) {
	wire, msgs := benchStream(1000, DefaultChunkSize, 3)
	cr := NewChunkReader(bufio.NewReaderSize(&loopReader{data: wire}, 16<<10), remux.NewPool(), 0, 0)
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
	readAll() // warm the pool
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		readAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(msgs)), "ns/msg")
}

// discardWriter counts what it is given and keeps none of it.
type discardWriter struct{ n int64 }

func (d *discardWriter) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*discardWriter)(nil)

// BenchmarkPlayerWrite builds and writes the vectored output of one player
// wake-up: a batch of 10 shared, pooled messages (the start of benchStream:
// a 60 KB keyframe, three 17-23 KB inter frames and six 400 B audio frames)
// at chunk size 4096, into a writer that keeps nothing. Only chunk headers
// are written into scratch; copied-B/msg is those header bytes per message,
// payload-B/msg what is referenced in place instead of copied.
func BenchmarkPlayerWrite(b *testing.B) {
	pool := remux.NewPool()
	_, gen := benchStream(10, DefaultChunkSize, 4)
	var batch []*remux.Message
	for _, g := range gen {
		m := pool.Get(len(g.body))
		copy(m.Payload, g.body)
		m.Kind = remux.Kind(g.h.Type)
		m.Parse()
		batch = append(batch, m)
	}
	defer func() {
		for _, m := range batch {
			m.Release()
		}
	}()
	var payload int
	for _, m := range batch {
		payload += len(m.Payload)
	}

	w := newChunkWriter()
	w.chunkSize = DefaultChunkSize
	var vb vecBuilder
	var out discardWriter
	var ts uint32
	var hdrBytes int64
	write := func() {
		vb.reset()
		for _, m := range batch {
			csid := uint32(csidAudio)
			if m.Kind == remux.KindVideo {
				csid = csidVideo
			}
			vb.add(w, csid, Header{Type: uint8(m.Kind), StreamID: 1, Timestamp: ts}, m.Payload)
			ts += 20
		}
		n, err := vb.writeTo(&out)
		if err != nil || n != int64(len(vb.hdr)+payload) {
			b.Fatalf("wrote %d (%v), want %d", n, err, len(vb.hdr)+payload)
		}
		hdrBytes += int64(len(vb.hdr))
	}
	write() // warm up the scratch buffers
	hdrBytes = 0
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		write()
	}
	msgs := float64(b.N) * float64(len(batch))
	b.ReportMetric(float64(hdrBytes)/msgs, "copied-B/msg")
	b.ReportMetric(float64(payload)/float64(len(batch)), "payload-B/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
}

// TestPlayerWriteZeroAllocs asserts BenchmarkPlayerWrite's 0 allocs/op.
func TestPlayerWriteZeroAllocs(t *testing.T) {
	_, gen := benchStream(10, DefaultChunkSize, 5)
	w := newChunkWriter()
	w.chunkSize = DefaultChunkSize
	var vb vecBuilder
	var out discardWriter
	var ts uint32
	write := func() {
		vb.reset()
		for _, g := range gen {
			vb.add(w, g.csid, Header{Type: g.h.Type, StreamID: 1, Timestamp: ts}, g.body)
			ts += 20
		}
		vb.writeTo(&out)
	}
	write()
	if a := testing.AllocsPerRun(100, write); a != 0 {
		t.Errorf("%v allocations per vectored write, want 0", a)
	}
}
