package remux

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Markers of a recording's playback (VOD). Like KindStreamEnd they never
// reach the wire as such; the RTMP player turns them into status messages.
const (
	// KindSeekNotify: a seek was done; the media that follows starts at
	// Timestamp (the keyframe at or before the target).
	KindSeekNotify Kind = 0xF2
	// KindPlayComplete: the recording ended; Timestamp is its duration (ms).
	KindPlayComplete Kind = 0xF3
	// KindPauseNotify: a pause took effect; no media follows until a
	// KindUnpauseNotify. KindUnpauseNotify: the media that follows resumes
	// where it stopped. One of each per pause or unpause the client sent.
	KindPauseNotify   Kind = 0xF4
	KindUnpauseNotify Kind = 0xF5
)

// ErrCorrupt is wrapped by the file readers' errors about malformed input.
var ErrCorrupt = errors.New("corrupt media file")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// FileInfo describes a recording opened by a FileReader.
type FileInfo struct {
	// Duration (ms) runs to the end of the last frame (its timestamp plus
	// about one frame); Last is the last timestamp. 0 if unknown.
	Duration   uint32
	Last       uint32
	VideoCodec FourCC // 0: no video
	AudioCodec FourCC // 0: no audio
	Width      int    // from the container, 0 if unknown
	Height     int
	// Meta is the AMF0 body of an FLV file's onMetaData tag, as stored.
	Meta []byte
}

// FileReader reads a recording as the media messages RTMP carries: FLV tag
// bodies with absolute millisecond timestamps (file time). It reads the
// file piece by piece through an io.ReaderAt; memory does not grow with the
// file (a progressive MP4's sample tables excepted).
type FileReader interface {
	Info() FileInfo
	// Headers returns the codec configuration messages (video, then audio
	// sequence header) found at the start of the file; the caller gets its
	// own references and must release them.
	Headers() []*Message
	// Next returns the next media message (one reference for the caller);
	// io.EOF at the end, another error for a truncated or corrupt file.
	Next() (*Message, error)
	// Seek positions the reader at the video keyframe at or before ms (the
	// first one if none is), or at the audio frame at or before ms for an
	// audio-only file, and returns that message's timestamp.
	Seek(ms uint32) (uint32, error)
	// Close releases what the reader holds (not the underlying file).
	Close() error
}

// OpenFile opens a recording of size bytes with the reader its name's
// extension calls for: ".flv" (any case) FLV, anything else MP4/fMP4.
func OpenFile(r io.ReaderAt, size int64, name string, pool *Pool) (FileReader, error) {
	if strings.HasSuffix(strings.ToLower(name), ".flv") {
		return OpenFLV(r, size, pool)
	}
	return OpenMP4(r, size, pool)
}

// readFull reads len(p) bytes at off, turning a short read into
// io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// AVC/HEVC/AAC tag bodies.

func videoHeader(dst []byte, codec FourCC, key, seqHeader bool, cts int32) []byte {
	ft := byte(2)
	if key || seqHeader {
		ft = 1
	}
	if codec == CodecAVC {
		pt := byte(1)
		if seqHeader {
			pt = 0
			cts = 0
		}
		return append(dst, ft<<4|flvVideoAVC, pt, byte(cts>>16), byte(cts>>8), byte(cts))
	}
	// Enhanced RTMP: SequenceStart (0) or CodedFrames (1, with SI24 cts).
	if seqHeader {
		return append(dst, 0x80|ft<<4|0, byte(codec>>24), byte(codec>>16), byte(codec>>8), byte(codec))
	}
	dst = append(dst, 0x80|ft<<4|1, byte(codec>>24), byte(codec>>16), byte(codec>>8), byte(codec))
	if !hasCTS(codec) { // AV1, VP9: CodedFrames without a composition time
		return dst
	}
	return append(dst, byte(cts>>16), byte(cts>>8), byte(cts))
}

// audioHeader is the tag header of an audio sequence start or frame: the
// legacy AAC one, or an ExAudioTagHeader for every other codec.
func audioHeader(dst []byte, codec FourCC, seqHeader bool) []byte {
	if codec == CodecAAC || codec == 0 {
		if seqHeader {
			return append(dst, 0xAF, 0)
		}
		return append(dst, 0xAF, 1)
	}
	pt := byte(exCodedFrames)
	if seqHeader {
		pt = exSequenceStart
	}
	return append(dst, flvSoundEx<<4|pt, byte(codec>>24), byte(codec>>16), byte(codec>>8), byte(codec))
}
