package rtmp

import (
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/tapedeck/tapedeck/remux"
	"github.com/tapedeck/tapedeck/remux/amf"
)

// Errors a Handler returns to choose the status a client sees.
var (
	// ErrRejected refuses a connect (NetConnection.Connect.Rejected).
	ErrRejected = errors.New("rejected")
	// ErrUnauthorized refuses a publish or play (NetStream.*.Denied / Failed).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrStreamBusy refuses a publish to a name already published (NetStream.Publish.BadName).
	ErrStreamBusy = errors.New("stream is already being published")
	// ErrStreamNotFound answers a play of nothing (NetStream.Play.StreamNotFound).
	ErrStreamNotFound = errors.New("stream not found")
	// ErrBadName refuses a name the handler will not take: too long,
	// control characters (NetStream.Publish.BadName / NetStream.Play.Failed).
	ErrBadName = errors.New("bad name")
)

// ConnInfo describes a client connection to a Handler.
type ConnInfo struct {
	RemoteAddr net.Addr
	App        string     // application, without query; may carry an instance ("live/inst")
	TcURL      string     // as the client sent it
	Query      url.Values // query of the app or tcUrl ("?key=...")
	FlashVer   string
	// ObjectEncoding is the AMF version the client asked for (0 or 3).
	ObjectEncoding float64
	// Connect is the command object of the client's connect as it was
	// sent (app, tcUrl, flashVer, ...). An Enhanced RTMP client announces
	// there the codecs it can receive: fourCcList, videoFourCcInfoMap,
	// audioFourCcInfoMap (and capsEx); Supports interprets them. Handlers
	// must not modify it.
	Connect amf.Object
	// Caps is Connect's Enhanced RTMP announcement, parsed at connect:
	// what the client can receive, and its capsEx.
	Caps Caps

	conn *conn
}

// Disconnect closes the client's connection (to kick a publisher).
func (ci *ConnInfo) Disconnect() {
	if ci.conn != nil {
		ci.conn.close()
	}
}

// StreamRequest is a publish or play request.
type StreamRequest struct {
	// App is the application the name belongs to: ConnInfo.App, or, for
	// a request without a name whose app (or tcUrl) path had one, that
	// path without its last element ("live/cam" → "live", Name "cam").
	App     string
	Name    string     // stream name without query and without flv:/mp4: prefixes
	RawName string     // as sent
	Query   url.Values // the name's query, merged over the connection's
	// Play arguments, in milliseconds as they are on the wire. Start -2 means
	// live or recorded, -1 live only, >= 0 recorded from that offset.
	Start, Duration float64
	Reset           bool
	PublishType     string // "live", "record" or "append"
}

// Publisher receives what a publishing client sends.
type Publisher interface {
	// Write hands over one media or data message; it takes over the
	// caller's reference. It must not block on consumers.
	Write(m *remux.Message)
	// Close ends the publish.
	Close()
}

// Subscription delivers a stream to a playing client.
type Subscription interface {
	// Next appends to dst the messages available, each retained for the
	// caller, blocking until there is at least one. It returns an error
	// once the subscription is closed or the stream is gone for good.
	Next(dst []*remux.Message) ([]*remux.Message, error)
	// Close ends the subscription and wakes a blocked Next.
	Close()
}

// Handler connects the wire protocol to the rest of the appliance. Its
// methods are called from the connection's goroutine.
type Handler interface {
	OnConnect(ci *ConnInfo) error
	OnPublish(ci *ConnInfo, req *StreamRequest) (Publisher, error)
	OnPlay(ci *ConnInfo, req *StreamRequest) (Subscription, error)
}

// splitName parses a stream name as clients send it: "cam1?key=x",
// "mp4:dir/file.mp4", "flv:name". The flv: prefix and .flv suffix go;
// an mp4: prefix is dropped but the file's extension stays.
func splitName(raw string) (string, url.Values) {
	name, rawQuery, _ := strings.Cut(raw, "?")
	q, _ := url.ParseQuery(rawQuery)
	switch {
	case strings.HasPrefix(name, "flv:"):
		name = strings.TrimSuffix(name[4:], ".flv")
	case strings.HasPrefix(name, "mp4:"):
		name = name[4:]
	}
	return name, q
}

// VODSubscription is a Subscription that plays a recording (video on
// demand). For one, the connection sends StreamIsRecorded before
// StreamBegin, writes timestamps as they come (absolute file time, no
// rebasing: rtmpdump's resume relies on it), leaves the play's duration
// argument to the subscription, and routes seek, pause, SetBufferLength and
// getStreamLength to it. Its Next marks, in order with the media:
//   - remux.KindSeekNotify: a seek was done; the connection sends StreamEOF,
//     NetStream.Seek.Notify and StreamBegin, and the next media messages go
//     out with type-0 chunk headers;
//   - remux.KindPlayComplete: the end of the recording (Timestamp = its
//     duration in ms); the connection sends StreamEOF, onPlayStatus
//     NetStream.Play.Complete and NetStream.Play.Stop, and keeps the
//     connection (a client may seek back);
//   - remux.KindPauseNotify and remux.KindUnpauseNotify: one per Pause
//     call, in the order of the calls, the pause after the last media
//     message delivered before it took effect, with no media after it
//     until the unpause's marker; the connection sends StreamEOF and
//     NetStream.Pause.Notify, StreamBegin and NetStream.Unpause.Notify.
type VODSubscription interface {
	Subscription
	// Seek moves the play to the keyframe at or before ms.
	Seek(ms float64) error
	// Pause stops (true) or resumes (false) the delivery; ms is the
	// client's position. Next marks it (KindPauseNotify,
	// KindUnpauseNotify); an error is answered NetStream.Pause.Failed and
	// is not marked.
	Pause(pause bool, ms float64) error
	// SetBufferLength is the client's buffer (SetBufferLength event), which
	// sizes the read-ahead.
	SetBufferLength(ms uint32)
	// Length is the recording's duration in seconds.
	Length() float64
}

// StreamLengthHandler is an optional Handler method that answers
// getStreamLength (sent before play) with a recording's duration in seconds;
// 0 for a live stream or no recording.
type StreamLengthHandler interface {
	StreamLength(ci *ConnInfo, req *StreamRequest) float64
}
