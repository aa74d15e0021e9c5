package appliance_test

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestSharedWriterConfig: the shared writer is on by default, and with
// rtmp.shared_writer on or off players get every GOP a publisher sends
// after they joined. That the writer takes players
// over, hands back a full socket and allocates nothing is tested in
// rtmp/fanout_test.go.
func TestSharedWriterConfig(t *testing.T) {
	t.Parallel()
	def, err := appliance.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if !def.RTMP.SharedWriter {
		t.Fatal("rtmp.shared_writer is off in the default config; it is what meets issue 17's CPU goal at 1000 players")
	}
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "shared", false: "per-player"}[on], func(t *testing.T) {
			t.Parallel()
			testSharedWriterConfig(t, on)
		})
	}
}

func testSharedWriterConfig(t *testing.T, on bool) {
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.RTMP.SharedWriter = on })
	base := "rtmp://" + a.RTMPAddr().String() + "/live/"
	pub := startPublisher(t, base+"shared")
	players := []*testPlayer{startPlayer(t, base+"shared"), startPlayer(t, base+"shared"), startPlayer(t, base+"shared")}
	for _, p := range players {
		testenv.Eventually(t, 3*time.Second, "a player to get the cached GOP", func() bool { return p.video.Load() >= 1 })
	}
	before := make([]int64, len(players))
	for i, p := range players {
		before[i] = p.video.Load()
	}
	for i := uint32(1); i <= 20; i++ {
		sendGOP(t, pub, i*200)
	}
	// sendGOP sends a keyframe and three inter frames: 80 video messages.
	for i, p := range players {
		testenv.Eventually(t, 5*time.Second, "a player to get all 20 GOPs", func() bool { return p.video.Load()-before[i] >= 80 })
	}
}
