package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// VLCRecord returns the command line of a headless VLC (cvlc) that plays
// url for about seconds of media and remuxes what it received, without
// decoding, into an MP4 file, which it returns too; VLC writes the MP4's
// index only when it stops cleanly, so a readable file also says it did.
// VLC refuses to run as root: as root the command runs cvlc as nobody
// (runuser), and the file is in a directory nobody may write, removed
// when the test ends.
func VLCRecord(t testing.TB, url string, seconds int) (name string, args []string, out string) {
	t.Helper()
	NeedTool(t, "cvlc")
	dir, err := os.MkdirTemp("", "tapedeck-vlc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// MkdirTemp makes it 0700; nobody must write into it.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(dir, "vlc.mp4")
	// --no-sout-spu: the onMetaData updates some publishers send all along
	// (GStreamer's flvmux, at every tag) reach VLC as a text stream that
	// it would record as a subtitle track of invalid UTF-8.
	args = []string{"cvlc", "--quiet", "--no-interact", "--no-sout-spu", "--run-time", strconv.Itoa(seconds), "--play-and-exit", url,
		"--sout", "#std{access=file,mux=mp4,dst=" + out + "}"}
	if os.Geteuid() != 0 {
		return args[0], args[1:], out
	}
	NeedTool(t, "runuser")
	return "runuser", append([]string{"-u", "nobody", "--"}, args...), out
}
