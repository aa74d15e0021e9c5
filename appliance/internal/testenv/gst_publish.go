package testenv

// GstPublishArgs are the gst-launch-1.0 arguments of a GStreamer
// publisher (flvmux into rtmp2sink) of test media to url: 640x360 H.264
// at 25 fps with a keyframe every 2 s (x264enc, no B-frames) and 44.1 kHz
// stereo AAC (avenc_aac), in real time. With -e, the SIGINT that ends it
// makes the pipeline finish the stream first. The sources are not live:
// rtmp2sink paces them by the clock; live test sources stamp the first
// frames of a loaded machine with repeated timestamps (0.488, 0.488,
// 0.511, 0.511 s in flvmux's own file output), which players then show.
func GstPublishArgs(url string) []string {
	return []string{"-e",
		"videotestsrc", "pattern=ball", "!", "video/x-raw,width=640,height=360,framerate=25/1", "!",
		"x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=50", "!", "h264parse", "!", "queue", "!",
		"flvmux", "name=mux", "streamable=true", "!", "rtmp2sink", "location=" + url,
		"audiotestsrc", "wave=sine", "freq=440", "!", "audio/x-raw,rate=44100,channels=2", "!",
		"audioconvert", "!", "avenc_aac", "!", "aacparse", "!", "queue", "!", "mux.",
	}
}
