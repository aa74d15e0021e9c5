//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestE2EHEVCRelayToTapedeck: a second tapedeck answers connect with its
// Enhanced RTMP support, so the first one pushes an HEVC stream
// (gortmplib publishing libx265 output) to it rather than refusing it as
// it refuses nginx-rtmp; gortmplib reading from the second box gets the
// frames byte for byte.
func TestE2EHEVCRelayToTapedeck(t *testing.T) {
	bin := tapedeckBinary(t)
	src := hevcAACMedia(t)
	up := hardStart(t, bin, ertmpConfig)
	edge := hardStart(t, bin, strings.Replace(ertmpConfig, "    record:\n", "    push:\n      - name: second\n        url: rtmp://"+up.rtmpAddr+"/live/{stream}\n    record:\n", 1))
	got := make(chan *gortReceived, 1)
	go func() { got <- gortRead("rtmp://"+up.rtmpAddr+"/live/hevc", 7*time.Second) }()
	time.Sleep(300 * time.Millisecond)
	if err := gortPublish(t, "rtmp://"+edge.rtmpAddr+"/live/hevc", src, 2); err != nil {
		t.Fatal(err)
	}
	g := <-got
	if g.err != nil {
		t.Fatal(g.err)
	}
	// The push starts at the publish's first keyframe: every frame of the
	// two loops but the relay's start-up may be missing at the far end.
	checkSameFrames(t, "HEVC via the relay", src.video, g.video, 2*len(src.video)-30)
	checkSameFrames(t, "AAC via the relay", src.audio, g.audio, 2*len(src.audio)-60)
	if strings.Contains(edge.logs.String(), "upstream does not accept") {
		t.Errorf("the edge refused the second tapedeck:\n%s", grepLines(edge.logs.String(), "does not accept"))
	}
}
