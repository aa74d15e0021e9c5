package appliance

import (
	"time"

	"github.com/tapedeck/tapedeck/appliance/hls"
)

// HLSConfig is http.hls: live streams as LL-HLS and recordings as HLS VOD
// under /hls/ on the HTTP listener, behind the same authentication as the
// API.
type HLSConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// PartDuration is the LL-HLS partial segment target.
	PartDuration time.Duration `mapstructure:"part_duration"`
	// SegmentDuration is the shortest segment (it ends at a keyframe).
	SegmentDuration time.Duration `mapstructure:"segment_duration"`
	// SegmentCount is how many segments a live playlist lists.
	SegmentCount int `mapstructure:"segment_count"`
	// MaxStreamBytes bounds the media one stream's muxer holds.
	MaxStreamBytes ByteSize `mapstructure:"max_stream_bytes"`
	// IdleTimeout stops a stream's muxer this long after its last request.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxStreams bounds the streams served over HLS at once.
	MaxStreams int `mapstructure:"max_streams"`
}

// validateHLS checks http.hls; bad names the key path.
func validateHLS(c HLSConfig, bad func(key, format string, args ...any)) {
	if c.PartDuration < 50*time.Millisecond || c.PartDuration > 5*time.Second {
		bad("http.hls.part_duration", "%v is outside 50ms..5s", c.PartDuration)
	}
	if c.SegmentDuration < c.PartDuration || c.SegmentDuration > 30*time.Second {
		bad("http.hls.segment_duration", "%v is outside http.hls.part_duration (%v)..30s", c.SegmentDuration, c.PartDuration)
	}
	if c.SegmentCount < 3 || c.SegmentCount > 100 {
		bad("http.hls.segment_count", "%d is outside 3..100 (players start three segments from the end)", c.SegmentCount)
	}
	if c.MaxStreamBytes < 1<<20 || c.MaxStreamBytes > 1<<30 {
		bad("http.hls.max_stream_bytes", "%d is outside 1MB..1GB", c.MaxStreamBytes)
	}
	if c.IdleTimeout < 100*time.Millisecond || c.IdleTimeout > time.Hour {
		bad("http.hls.idle_timeout", "%v is outside 100ms..1h", c.IdleTimeout)
	}
	if c.MaxStreams < 1 || c.MaxStreams > 10000 {
		bad("http.hls.max_streams", "%d is outside 1..10000", c.MaxStreams)
	}
}

// muxerConfig is the hls package's view of http.hls.
func (c HLSConfig) muxerConfig() hls.Config {
	return hls.Config{
		PartDuration:    c.PartDuration,
		SegmentDuration: c.SegmentDuration,
		SegmentCount:    c.SegmentCount,
		MaxStreamBytes:  int64(c.MaxStreamBytes),
		IdleTimeout:     c.IdleTimeout,
		MaxStreams:      c.MaxStreams,
	}
}
