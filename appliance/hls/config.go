// Package hls serves live streams as Low-Latency HLS (fMP4 partial
// segments, blocking playlist reload, preload hints) and recordings as
// HLS VOD playlists over their fMP4 segment files.
//
// A live stream's muxer subscribes to the hub like a player does when the
// first HLS request for it arrives, and unsubscribes once no request came
// for Config.IdleTimeout. Its fMP4 is the recorder's (recorder.Fragmenter),
// so live and recorded media are described by the same boxes.
package hls

import "time"

// Config is what the muxers are made with; the appliance reads it from
// http.hls.
type Config struct {
	// PartDuration is the target duration of a partial segment.
	PartDuration time.Duration
	// SegmentDuration is the shortest segment: a segment ends at the
	// first keyframe past it.
	SegmentDuration time.Duration
	// SegmentCount is how many complete segments a playlist lists.
	SegmentCount int
	// MaxStreamBytes bounds the media one muxer holds; the oldest
	// segments go first.
	MaxStreamBytes int64
	// IdleTimeout stops a muxer this long after its last request.
	IdleTimeout time.Duration
	// MaxStreams bounds the muxers running at once.
	MaxStreams int
}

// Bounds of one muxer that do not need a setting.
const (
	// maxSegmentFactor forces a segment to end, even between keyframes,
	// past this many times SegmentDuration, so a stream with rare
	// keyframes still advances and stays within memory.
	maxSegmentFactor = 10
	// startSegments is how many complete segments a playlist has before
	// it is first served: players that start three target durations
	// from the live edge (GStreamer, VLC) lose sync on fewer. A muxer
	// that already runs answers at once.
	startSegments = 3
	// firstSegmentWait is how long a playlist request waits for them (players
	// give up on a playlist after about 10 s);
	// after it, one complete segment is enough.
	firstSegmentWait = 6 * time.Second
	// partKeep is how many of the newest segments list their parts.
	partKeep = 3
)

func (c Config) withDefaults() Config {
	if c.PartDuration <= 0 {
		c.PartDuration = 200 * time.Millisecond
	}
	if c.SegmentDuration <= 0 {
		c.SegmentDuration = time.Second
	}
	if c.SegmentCount <= 0 {
		c.SegmentCount = 7
	}
	if c.MaxStreamBytes <= 0 {
		c.MaxStreamBytes = 16 << 20
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 32
	}
	return c
}
