package appliance

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tapedeck/tapedeck/rtmp"
)

// maxNameBytes is the longest app or stream name taken: a name becomes a
// directory under storage.dir, and 255 bytes is what file systems take
// as one file name (NAME_MAX). Longer names would fail at mkdir, again
// at every retry, and ride on every log line.
const maxNameBytes = 255

// checkName says why an app or stream name (as decoded from the client's
// command) is refused, wrapping rtmp.ErrBadName, or returns nil. Control
// characters are refused too: they end up in file names, logs and JSON.
func checkName(what, name string) error {
	if len(name) > maxNameBytes {
		return fmt.Errorf("%w: %s name of %d bytes, the limit is %d", rtmp.ErrBadName, what, len(name), maxNameBytes)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s name is not UTF-8", rtmp.ErrBadName, what)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s name holds the control character %U", rtmp.ErrBadName, what, r)
		}
	}
	return nil
}

// checkStreamPath checks both halves of a hub stream path.
func checkStreamPath(app, name string) error {
	if err := checkName("app", app); err != nil {
		return err
	}
	return checkName("stream", name)
}

// maxRecordingNameBytes bounds the path of a recording a player asks for
// (vod/<app>/<stream>/<file>): a few names' worth.
const maxRecordingNameBytes = 4 * maxNameBytes

// checkRecordingName checks a recording path: every element is a name.
func checkRecordingName(rel string) error {
	if len(rel) > maxRecordingNameBytes {
		return fmt.Errorf("%w: recording path of %d bytes, the limit is %d", rtmp.ErrBadName, len(rel), maxRecordingNameBytes)
	}
	for _, el := range strings.Split(rel, "/") {
		if err := checkName("recording path element", el); err != nil {
			return err
		}
	}
	return nil
}
