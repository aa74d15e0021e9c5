package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// multitrackAudio builds an Enhanced RTMP ManyTracks audio message
// (enhanced-rtmp.md §5): [0x90|5] [0x1<<4|packetType] "mp4a"
// {[trackId][u24 size][data]}* — several tracks in one message.
func multitrackAudio(pt byte, data []byte, ids ...uint8) []byte {
	b := []byte{0x95, 0x10 | pt, 'm', 'p', '4', 'a'}
	for _, id := range ids {
		b = append(b, id, byte(len(data)>>16), byte(len(data)>>8), byte(len(data)))
		b = append(b, data...)
	}
	return b
}

// withExtraAudio is the "av" file with two more AAC tracks (ids 1 and 2,
// a copy of track 0's frames) carried in ManyTracks messages after each
// of track 0's, and an onMetaData naming them.
func withExtraAudio(t *testing.T) []*remux.Message {
	t.Helper()
	meta, err := amf.AppendAMF0(nil, "onMetaData", amf.ECMAArray{
		{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0},
		{Key: "audioTrackIdInfoMap", Value: amf.Object{
			{Key: "1", Value: amf.Object{{Key: "audiocodecid", Value: float64(remux.CodecAAC)}, {Key: "language", Value: "fra"}, {Key: "name", Value: "Commentary"}}},
			{Key: "2", Value: amf.Object{{Key: "language", Value: "deu"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*remux.Message
	for _, m := range messages(readFLV(t, mediaFile(t, "av"))) {
		if m.IsMetadata() {
			m.Release()
			out = append(out, remux.NewMessage(remux.KindData, 0, meta))
			continue
		}
		out = append(out, m)
		if m.Kind == remux.KindAudio && m.Frame.Packet != remux.PacketUnknown {
			pt := byte(1)
			if m.Frame.SequenceHeader {
				pt = 0
			}
			out = append(out, remux.NewMessage(remux.KindAudio, m.Timestamp, multitrackAudio(pt, m.Frame.Data(m.Payload), 1, 2)))
		}
	}
	return out
}

// Each multitrack track becomes a trak of its own, with the language and
// name the onMetaData gives it; every trak decodes to as many packets as
// track 0's.
func TestMultitrackTraks(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatFMP4, FormatMP4} {
		t.Run(format, func(t *testing.T) {
			msgs := withExtraAudio(t)
			segs, err := record(t, msgs, Config{Dir: t.TempDir(), Format: format, SegmentDuration: 10 * time.Second})
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			checkReleased(t, msgs)
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1", len(segs))
			}
			if e := decodeErrors(t, segs[0].Path); e != "" {
				t.Errorf("decoding: %s", e)
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries",
				"stream=index,codec_type,codec_name,nb_read_packets:stream_tags=language,handler_name", "-of", "json", segs[0].Path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			var r struct {
				Streams []struct {
					CodecType string            `json:"codec_type"`
					CodecName string            `json:"codec_name"`
					Packets   string            `json:"nb_read_packets"`
					Tags      map[string]string `json:"tags"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", out)
			want := []struct{ typ, codec, lang, name string }{
				{"video", "h264", "und", "VideoHandler"}, {"audio", "aac", "und", "SoundHandler"},
				{"audio", "aac", "fra", "Commentary"}, {"audio", "aac", "deu", "SoundHandler"},
			}
			if len(r.Streams) != len(want) {
				t.Fatalf("%d streams, want %d", len(r.Streams), len(want))
			}
			checkPlaysMultitrack(t, segs[0].Path)
			for i, w := range want {
				s := r.Streams[i]
				if s.CodecType != w.typ || s.CodecName != w.codec || s.Tags["language"] != w.lang || s.Tags["handler_name"] != w.name {
					t.Errorf("stream %d: %s %s %q %q, want %s %s %q %q", i, s.CodecType, s.CodecName, s.Tags["language"], s.Tags["handler_name"], w.typ, w.codec, w.lang, w.name)
				}
				if i >= 2 && s.Packets != r.Streams[1].Packets {
					t.Errorf("stream %d: %s packets, track 0's audio has %s", i, s.Packets, r.Streams[1].Packets)
				}
			}
		})
	}
}

// checkPlaysMultitrack reads the recording back as playback does
// (remux.OpenFile): the further audio traks come as multitrack tracks 1
// and 2 (OneTrack messages), each with the AAC configuration and then the
// same frames as track 0, which stays in the ordinary tags.
func checkPlaysMultitrack(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	r, err := remux.OpenFile(f, st.Size(), path, remux.NewPool())
	if err != nil {
		t.Fatalf("playback of %s: %v", path, err)
	}
	defer r.Close()
	var hdrs [3][]byte
	var frames [3][][]byte
	take := func(m *remux.Message) {
		defer m.Release()
		fr := m.Frame
		if m.Kind != remux.KindAudio || fr.Track > 2 || fr.Codec != remux.CodecAAC {
			return
		}
		if (fr.Track != 0) != (fr.Multitrack == remux.OneTrack) {
			t.Errorf("audio track %d as %v", fr.Track, fr.Multitrack)
		}
		if fr.SequenceHeader {
			hdrs[fr.Track] = append([]byte(nil), fr.Data(m.Payload)...)
		} else {
			frames[fr.Track] = append(frames[fr.Track], append([]byte(nil), fr.Data(m.Payload)...))
		}
	}
	for _, h := range r.Headers() {
		take(h)
	}
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		take(m)
	}
	for id := 1; id <= 2; id++ {
		if !bytes.Equal(hdrs[id], hdrs[0]) || len(frames[id]) != len(frames[0]) {
			t.Errorf("playback track %d: config % x and %d frames; track 0: % x and %d frames", id, hdrs[id], len(frames[id]), hdrs[0], len(frames[0]))
			continue
		}
		for i := range frames[0] {
			if !bytes.Equal(frames[id][i], frames[0][i]) {
				t.Errorf("playback track %d frame %d differs from track 0's", id, i)
				break
			}
		}
	}
	t.Logf("playback: %d, %d and %d AAC frames on tracks 0, 1, 2", len(frames[0]), len(frames[1]), len(frames[2]))
}
