package pull

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestRTCPReceiverReport(t *testing.T) {
	rr := receiverReport(0x11223344, "tapedeck", reportBlock{
		SSRC: 0xAABBCCDD, FractionLost: 64, Lost: -3, HighestSeq: 0x1_0005, Jitter: 90, LSR: 0x12345678, DLSR: 65536 / 2,
	})
	want := "81c90007" + "11223344" + // RR, RC 1, 8 words
		"aabbccdd" + "40fffffd" + "00010005" + "0000005a" + "12345678" + "00008000" +
		"81ca0004" + "11223344" + "0108" + hex.EncodeToString([]byte("tapedeck")) + "0000" // SDES CNAME, padded
	if got := hex.EncodeToString(rr); got != want {
		t.Errorf("RR\n got %s\nwant %s", got, want)
	}
	// Without a source yet: an empty RR, still with the CNAME.
	if got := hex.EncodeToString(receiverReport(1, "ab")); got != "80c9000100000001"+"81ca00030000000101026162"+"00000000" {
		t.Errorf("empty RR %s", got)
	}
	// Lost beyond 24 bits saturates.
	if b := receiverReport(1, "", reportBlock{Lost: 1 << 30}); hex.EncodeToString(b[12:16]) != "007fffff" {
		t.Errorf("lost % x", b[12:16])
	}
}

func TestRTCPSenderReports(t *testing.T) {
	sr := "80c80006" + "01020304" + "aaaabbbb" + "ccccdddd" + "00000000" + "00000001" + "00000002"
	bye := "81cb0001" + "01020304"
	b, _ := hex.DecodeString(sr + bye + sr)
	var got []string
	senderReports(b, func(ssrc, mid uint32) { got = append(got, fmt.Sprintf("%x:%x", ssrc, mid)) })
	if fmt.Sprint(got) != "[1020304:bbbbcccc 1020304:bbbbcccc]" {
		t.Errorf("SRs %v", got)
	}
	for _, bad := range []string{"", "80c8", "80c8ffff01020304", "00c80006" + sr[8:], "80c80001" + "01020304"} {
		b, _ := hex.DecodeString(bad)
		senderReports(b, func(uint32, uint32) { t.Errorf("SR from %q", bad) })
	}
}

func TestRTPStats(t *testing.T) {
	var s rtpStats
	s.clock = 90000
	now := time.Unix(1000, 0)
	if _, ok := s.report(now); ok {
		t.Fatal("report before any packet")
	}
	// SR before the first packet is kept.
	sr, _ := hex.DecodeString("80c80006" + "0000abcd" + "aaaabbbb" + "ccccdddd" + "00000000" + "00000001" + "00000002")
	s.rtcp(sr, now)
	// 65530..65535, 0..9 with 2 and 3 lost: 16 expected, 14 received.
	for seq := uint16(65530); seq != 10; seq++ {
		if seq == 2 || seq == 3 {
			continue
		}
		s.packet(&rtp.Header{SSRC: 0xabcd, SequenceNumber: seq, Timestamp: uint32(seq) * 3600}, now)
		now = now.Add(40 * time.Millisecond)
	}
	b, ok := s.report(now)
	if !ok || b.SSRC != 0xabcd || b.HighestSeq != 1<<16+9 || b.Lost != 2 || b.FractionLost != 2*256/16 {
		t.Errorf("block %+v", b)
	}
	// 14 packets 40 ms apart since the SR.
	if b.LSR != 0xbbbbcccc || b.DLSR != uint32(14*40*65536/1000) {
		t.Errorf("LSR %x DLSR %d", b.LSR, b.DLSR)
	}
	// Nothing lost in the next interval.
	s.packet(&rtp.Header{SSRC: 0xabcd, SequenceNumber: 10, Timestamp: 10 * 3600}, now)
	if b, _ := s.report(now); b.FractionLost != 0 || b.Lost != 2 || b.HighestSeq != 1<<16+10 {
		t.Errorf("block %+v", b)
	}
	// A new source restarts the counts (and its SR is not the old one's).
	s.packet(&rtp.Header{SSRC: 7, SequenceNumber: 500}, now)
	if b, _ := s.report(now); b.SSRC != 7 || b.HighestSeq != 500 || b.Lost != 0 || b.LSR != 0 {
		t.Errorf("after a new SSRC %+v", b)
	}
}
