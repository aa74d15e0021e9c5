package testenv

// Probe is ffprobe's JSON output (-of json) for the -show_entries the
// tests ask for; a section not asked for stays empty. Values ffprobe
// prints as strings ("N/A" when unknown) stay strings.
type Probe struct {
	Streams []ProbeStream `json:"streams"`
	Packets []ProbeEntry  `json:"packets"`
	Frames  []ProbeEntry  `json:"frames"`
	// PacketsAndFrames is what -show_packets and -show_frames together
	// (or packet= and frame= entries) list, interleaved; Type tells them
	// apart.
	PacketsAndFrames []ProbeEntry `json:"packets_and_frames"`
	Format           struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ProbeStream is one stream of a Probe.
type ProbeStream struct {
	Index     int    `json:"index"`
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// ProbeEntry is one packet or frame of a Probe.
type ProbeEntry struct {
	Type        string `json:"type"`       // in PacketsAndFrames: "packet" or "frame"
	CodecType   string `json:"codec_type"` // packets
	MediaType   string `json:"media_type"` // frames
	StreamIndex int    `json:"stream_index"`
	PtsTime     string `json:"pts_time"`
	DtsTime     string `json:"dts_time"`  // packets
	Flags       string `json:"flags"`     // packets: "K_" for keyframes
	KeyFrame    int    `json:"key_frame"` // frames
	PictType    string `json:"pict_type"` // video frames
}
