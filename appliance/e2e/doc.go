// Package e2e holds the end-to-end and acceptance tests of the whole
// appliance: each starts an appliance (in process, or the built binary as
// a process) and drives it with real clients — ffmpeg and ffprobe,
// rtmpdump, GStreamer, nginx-rtmp, GStreamer's RTSP server as a camera —
// or with a second appliance. The clients are required under CI (CI=true)
// and skip a test elsewhere when missing (see testenv.Need). The package
// has no code of its own: this file only gives it a name and this note.
// The tests are built for Linux only: they signal, freeze and kill
// processes and run clients the way a Debian machine has them.
//
// Run a few at a time while working (they take real time and are
// sensitive to a loaded machine):
//
//	go test -run 'TestE2EVOD' ./appliance/e2e/
package e2e
