package appliance_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
	"github.com/tapedeck/tapedeck/remux"
)

// The recordings list and DELETE tell one state: a segment listed open
// is refused (409), one listed closed is deleted — while the stream
// records, and during republish_grace after its publisher left, with a
// player still attached (the recorder too stays subscribed then).
func TestAPIRecordingsOpenAgreesWithDelete(t *testing.T) {
	a, logs := apptest.Start(t, func(c *appliance.Config) {
		live := c.Apps["live"]
		live.RepublishGrace = time.Minute
		live.Record.Enabled = true
		live.Record.Segment.Duration = time.Second
		c.Apps["live"] = live
	})
	url := "rtmp://" + a.RTMPAddr().String() + "/live/cam1"
	pub := testenv.PublishRTMP(t, url)
	write := func(kind remux.Kind, ts uint32, p []byte) {
		t.Helper()
		if err := pub.WriteMessage(kind, ts, p); err != nil {
			t.Fatal(err)
		}
	}
	write(remux.KindData, 0, testenv.Metadata(t))
	write(remux.KindVideo, 0, testenv.AVCHeader)
	write(remux.KindAudio, 0, testenv.AACHeader)
	frames := func(from, to uint32) {
		for ts := from; ts < to; ts += 40 {
			if ts%1000 == 0 {
				write(remux.KindVideo, ts, testenv.AVCKeyframe)
			} else {
				write(remux.KindVideo, ts, testenv.AVCInterframe)
			}
			write(remux.KindAudio, ts, testenv.AACFrame)
		}
	}
	frames(0, 3000)
	testenv.PlayRTMP(t, url) // an audience, so the grace keeps the stream

	type entry struct {
		Path string
		Open bool
	}
	list := func() []entry {
		t.Helper()
		code, _, out := apptest.Do(t, a, "GET", "/api/v1/recordings?app=live&stream=cam1", "")
		var l []entry
		if code != 200 || json.Unmarshal([]byte(out), &l) != nil {
			t.Fatalf("list: %d %s", code, out)
		}
		return l
	}
	// agree deletes what the list shows closed and is refused what it
	// shows open; it returns how many were open.
	agree := func(label string) int {
		t.Helper()
		open := 0
		for _, e := range list() {
			code, _, out := apptest.Do(t, a, "DELETE", "/api/v1/recordings/"+e.Path, "")
			switch {
			case e.Open && code != http.StatusConflict, !e.Open && code != http.StatusOK:
				t.Errorf("%s: %s listed open=%v, DELETE = %d %s", label, e.Path, e.Open, code, out)
			}
			if e.Open {
				open++
			}
		}
		return open
	}

	// Recording: the segment being written is open, the ones before it
	// closed, once the recorder reported them.
	testenv.Eventually(t, 10*time.Second, "two segments closed", func() bool {
		return strings.Count(logs.String(), `msg="segment closed"`) >= 2
	})
	if n := agree("while recording"); n != 1 {
		t.Errorf("while recording: %d segments listed open, want the one being written", n)
	}

	// The publisher leaves; the grace keeps the player and the recorder
	// attached, but the last segment is closed: listed closed, deletable.
	frames(3000, 3500)
	pub.Unpublish("cam1")
	// 3.5 s of media in 1 s segments: the fourth is the last.
	testenv.Eventually(t, 10*time.Second, "the last segment closed", func() bool {
		return strings.Count(logs.String(), `msg="segment closed"`) == 4
	})
	st := a.Hub().Lookup("live", "cam1")
	if st == nil || st.Stats().Publishing || st.Stats().Subscribers == 0 {
		t.Fatalf("not in republish grace: %+v", st)
	}
	if n := agree("in republish grace"); n != 0 {
		t.Errorf("in republish grace: %d segments listed open, want none", n)
	}
	if l := list(); len(l) != 0 {
		t.Errorf("left after deleting every closed segment: %+v", l)
	}
}
