package appliance_test

import (
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
	"github.com/tapedeck/tapedeck/appliance/internal/apptest"
	"github.com/tapedeck/tapedeck/appliance/internal/testenv"
)

// TestSharedWriterConfig: with rtmp.shared_writer on, players get every
// GOP a publisher sends after they joined. That the writer takes players
// over, hands back a full socket and allocates nothing is tested in
// rtmp/fanout_test.go.
func TestSharedWriterConfig(t *testing.T) {
	t.Parallel()
	a, _ := apptest.Start(t, func(c *appliance.Config) { c.RTMP.SharedWriter = true })
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
