package rtmp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tapedeck/tapedeck/remux/amf"
)

// handleCommand runs one AMF0 command. Malformed AMF costs the message, not
// the connection; only protocol-level failures return an error.
func (c *conn) handleCommand(p []byte, h Header) error {
	vals, err := amf.DecodeAMF0(p)
	if err != nil || len(vals) == 0 {
		c.log.Info("rtmp command dropped: bad AMF", "err", err, "len", len(p))
		return nil
	}
	name, _ := vals[0].(string)
	var txn float64
	if len(vals) > 1 {
		txn, _ = vals[1].(float64)
	}
	var cmdObj amf.Object
	if len(vals) > 2 {
		cmdObj, _ = vals[2].(amf.Object)
	}
	var args []any
	if len(vals) > 3 {
		args = vals[3:]
	}
	argString := func(i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	argNumber := func(i int, def float64) float64 {
		if i < len(args) {
			if f, ok := args[i].(float64); ok {
				return f
			}
		}
		return def
	}

	if !c.connected && name != "connect" {
		c.log.Debug("rtmp command before connect ignored", "cmd", name)
		return nil
	}
	switch name {
	case "connect":
		return c.onConnect(txn, cmdObj)
	case "createStream":
		return c.onCreateStream(txn)
	case "releaseStream", "FCPublish":
		if txn != 0 {
			return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, amf.Undefined{})
		}
		return nil
	case "FCUnpublish":
		if st := c.streamByName(argString(0)); st != nil && st.publisher != nil {
			c.stopStream(st)
			return c.sendStatus(st.id, "status", "NetStream.Unpublish.Success", argString(0)+" is now unpublished.")
		}
		return nil
	case "publish":
		return c.onPublish(h.StreamID, argString(0), argString(1))
	case "play":
		return c.onPlay(h.StreamID, argString(0), argNumber(1, -2), argNumber(2, -1), len(args) < 4 || args[3] != false)
	case "deleteStream", "closeStream":
		id := h.StreamID
		if f, ok := argAt(args, 0).(float64); ok && name == "deleteStream" {
			id = uint32(f)
		} else if s, ok := argAt(args, 0).(string); ok {
			if st := c.streamByName(s); st != nil {
				id = st.id
			}
		}
		if st := c.streams[id]; st != nil {
			c.stopStream(st)
			if name == "deleteStream" {
				delete(c.streams, id)
			}
		}
		return nil
	case "getStreamLength":
		length := 0.0
		if st := c.streamByName(argString(0)); st != nil && st.player != nil && st.player.vod != nil {
			length = st.player.vod.Length()
		} else if sl, ok := c.srv.handler.(StreamLengthHandler); ok && argString(0) != "" {
			length = sl.StreamLength(&c.info, c.request(argString(0)))
		}
		return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, length)
	case "seek":
		if st := c.streams[h.StreamID]; st != nil && st.player != nil && st.player.vod != nil {
			// Seek.Notify follows from the player, in order with the media.
			if err := st.player.vod.Seek(argNumber(0, 0)); err != nil {
				return c.sendStatus(h.StreamID, "error", "NetStream.Seek.Failed", "Seek failed: "+err.Error())
			}
			return nil
		}
		if txn != 0 {
			return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, nil)
		}
		return nil
	case "receiveAudio", "receiveVideo":
		if st := c.streams[h.StreamID]; st != nil && st.player != nil {
			on, _ := argAt(args, 0).(bool)
			if name == "receiveAudio" {
				st.player.noAudio.Store(!on)
			} else {
				st.player.noVideo.Store(!on)
			}
		}
		return nil
	case "pause", "pauseRaw":
		if st := c.streams[h.StreamID]; st != nil && st.player != nil && st.player.vod != nil {
			// Pause.Notify and Unpause.Notify follow from the player, in
			// order with the media (addPauseNotify): sent from here, they
			// could pass a frame the player took just before the pause.
			paused, _ := argAt(args, 0).(bool)
			if err := st.player.vod.Pause(paused, argNumber(1, 0)); err != nil {
				return c.sendStatus(h.StreamID, "error", "NetStream.Pause.Failed", "Pause failed: "+err.Error())
			}
			return nil
		}
		// Live streams cannot pause; acknowledge so clients do not stall.
		if paused, _ := argAt(args, 0).(bool); paused {
			return c.sendStatus(h.StreamID, "status", "NetStream.Pause.Notify", "Paused live stream.")
		}
		return c.sendStatus(h.StreamID, "status", "NetStream.Unpause.Notify", "Unpaused live stream.")
	case "_checkbw", "FCSubscribe", "_result", "_error", "onBWDone":
		if name == "_checkbw" && txn != 0 {
			return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, nil)
		}
		return nil
	default:
		c.log.Debug("rtmp unknown command", "cmd", name)
		if txn != 0 {
			return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, nil)
		}
		return nil
	}
}

func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

func (c *conn) streamByName(name string) *netStream {
	n := c.request(name).Name
	for _, st := range c.streams {
		if st.name == n {
			return st
		}
	}
	return nil
}

func (c *conn) onConnect(txn float64, obj amf.Object) error {
	if c.connected {
		c.log.Info("rtmp second connect ignored")
		return nil
	}
	app := obj.String("app")
	app, appQuery, _ := strings.Cut(app, "?")
	c.info = ConnInfo{
		RemoteAddr: c.nc.RemoteAddr(),
		App:        strings.Trim(app, "/"),
		TcURL:      obj.String("tcUrl"),
		FlashVer:   obj.String("flashVer"),
		Connect:    obj,
		conn:       c,
	}
	c.info.ObjectEncoding, _ = obj.Number("objectEncoding")
	c.info.Caps = ParseCaps(obj)
	c.noteReconnect()
	c.info.Query, _ = url.ParseQuery(appQuery)
	if u, err := url.Parse(c.info.TcURL); err == nil {
		for k, v := range u.Query() {
			if _, ok := c.info.Query[k]; !ok {
				c.info.Query[k] = v
			}
		}
	}
	c.baseLog = c.log
	c.log = c.log.With("app", logName(c.info.App))
	if err := c.srv.handler.OnConnect(&c.info); err != nil {
		reason := strings.TrimPrefix(err.Error(), ErrRejected.Error()+": ") // said once: "Connection rejected: app ..."
		c.log.Info("rtmp connect rejected", "err", reason)
		c.sendAMF(csidCommand, 0, typeCommandAMF0, "_error", txn, nil, amf.Object{
			{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Connect.Rejected"},
			{Key: "description", Value: "Connection rejected: " + reason},
		})
		return err // wraps ErrRejected: the connection ends, its close logged at DEBUG
	}
	c.connected = true
	c.progress(c.cfg.CommandTimeout, "no publish or play")
	if err := c.sendControl(typeWindowAckSize, be32(c.cfg.WindowAckSize)); err != nil {
		return err
	}
	if err := c.sendControl(typeSetPeerBandwidth, append(be32(c.cfg.WindowAckSize), 2)); err != nil {
		return err
	}
	if err := c.setChunkSize(c.cfg.ChunkSize); err != nil {
		return err
	}
	if err := c.sendAMF(csidCommand, 0, typeCommandAMF0, connectResult(txn, c.info.ObjectEncoding, c.connectCaps())...); err != nil {
		return err
	}
	return c.sendAMF(csidCommand, 0, typeCommandAMF0, "onBWDone", 0.0, nil, 8192.0)
}

// connectResult is the properties and information objects of the connect
// _result: the FMS-style properties every client expects, with tapedeck's
// Enhanced RTMP support (caps) added to them.
func connectResult(txn, objectEncoding float64, caps []amf.Property) []any {
	props := append(amf.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: 31.0}, {Key: "mode", Value: 1.0}}, caps...)
	return []any{"_result", txn, props, amf.Object{
		{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"},
		{Key: "description", Value: "Connection succeeded."}, {Key: "objectEncoding", Value: objectEncoding},
	}}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// maxStreamsPerConn bounds createStream calls a client can make us remember.
const maxStreamsPerConn = 16

func (c *conn) onCreateStream(txn float64) error {
	if len(c.streams) >= maxStreamsPerConn {
		return fmt.Errorf("%w: more than %d streams on one connection", ErrProtocol, maxStreamsPerConn)
	}
	c.nextStream++
	id := c.nextStream
	c.streams[id] = &netStream{id: id}
	return c.sendAMF(csidCommand, 0, typeCommandAMF0, "_result", txn, nil, float64(id))
}

// streamFor returns the NetStream a publish or play arrived on; clients
// that skip createStream get one made on the fly.
func (c *conn) streamFor(id uint32) *netStream {
	st := c.streams[id]
	if st == nil && len(c.streams) < maxStreamsPerConn {
		st = &netStream{id: id}
		c.streams[id] = st
	}
	return st
}

func (c *conn) request(raw string) *StreamRequest {
	name, q := splitName(raw)
	for k, v := range c.info.Query {
		if _, ok := q[k]; !ok {
			q[k] = v
		}
	}
	app := c.info.App
	if name == "" {
		app, name = nameFromPath(app, c.info.TcURL)
	}
	return &StreamRequest{App: app, Name: name, RawName: raw, Query: q}
}

// streamLog is the logger of a stream's lines: the connection's, or,
// when the request's app is not connect's (a client that put the whole
// path in connect's app, "live/cam" with no name, is app "live" and
// stream "cam"), one naming the request's app, so that no line says
// app=live/cam stream=cam.
func (c *conn) streamLog(req *StreamRequest) *slog.Logger {
	if req.App == c.info.App || c.baseLog == nil {
		return c.log
	}
	return c.baseLog.With("app", logName(req.App))
}

// logger is the logger of st's lines.
func (st *netStream) logger(c *conn) *slog.Logger {
	if st.log != nil {
		return st.log
	}
	return c.log
}

func (c *conn) onPublish(streamID uint32, raw, typ string) error {
	st := c.streamFor(streamID)
	if st == nil {
		return fmt.Errorf("%w: too many streams", ErrProtocol)
	}
	if st.publisher != nil || st.player != nil {
		return c.sendStatus(streamID, "error", "NetStream.Publish.BadName", "Stream is busy on this connection.")
	}
	req := c.request(raw)
	req.PublishType = typ
	log := c.streamLog(req)
	if req.Name == "" {
		c.sendStatus(streamID, "error", "NetStream.Publish.BadName", "Empty stream name.")
		return errors.New("publish without a stream name")
	}
	pub, err := c.srv.handler.OnPublish(&c.info, req)
	if err != nil {
		code := "NetStream.Publish.Denied"
		if errors.Is(err, ErrStreamBusy) || errors.Is(err, ErrBadName) {
			code = "NetStream.Publish.BadName"
		}
		name := logName(req.Name)
		log.Info("publish refused", "stream", name, "err", err)
		c.sendStatus(streamID, "error", code, "Publish refused: "+err.Error(), amf.Property{Key: "details", Value: name})
		return fmt.Errorf("publish %q refused: %w", name, err)
	}
	st.name, st.log = req.Name, log
	st.publisher = pub
	c.progress(c.cfg.IdleTimeout, "idle")
	log.Info("publish started", "stream", req.Name, "type", typ)
	if err := c.sendUserControl(ucStreamBegin, streamID); err != nil {
		return err
	}
	return c.sendStatus(streamID, "status", "NetStream.Publish.Start", req.Name+" is now published.", amf.Property{Key: "details", Value: req.Name})
}

func (c *conn) onPlay(streamID uint32, raw string, start, duration float64, reset bool) error {
	st := c.streamFor(streamID)
	if st == nil {
		return fmt.Errorf("%w: too many streams", ErrProtocol)
	}
	if st.publisher != nil || st.player != nil {
		c.stopStream(st)
	}
	req := c.request(raw)
	req.Start, req.Duration, req.Reset = start, duration, reset
	log := c.streamLog(req)
	sub, err := c.srv.handler.OnPlay(&c.info, req)
	if err != nil {
		name := logName(req.Name)
		log.Info("play refused", "stream", name, "err", err)
		code, level := "NetStream.Play.Failed", "error"
		if errors.Is(err, ErrStreamNotFound) {
			code = "NetStream.Play.StreamNotFound"
		}
		return c.sendStatus(streamID, level, code, "Play refused: "+err.Error(), amf.Property{Key: "details", Value: name})
	}
	st.name, st.log = req.Name, log
	vod, _ := sub.(VODSubscription)
	if vod != nil {
		if err := c.sendUserControl(ucStreamIsRecorded, streamID); err != nil {
			sub.Close()
			return err
		}
		duration = 0 // the recording's subscription honours it
	}
	if err := c.sendUserControl(ucStreamBegin, streamID); err != nil {
		sub.Close()
		return err
	}
	if reset {
		c.sendStatus(streamID, "status", "NetStream.Play.Reset", "Playing and resetting "+req.Name+".", amf.Property{Key: "details", Value: req.Name})
	}
	if err := c.sendStatus(streamID, "status", "NetStream.Play.Start", "Started playing "+req.Name+".", amf.Property{Key: "details", Value: req.Name}); err != nil {
		sub.Close()
		return err
	}
	if err := c.sendAMF(csidStatus, streamID, typeDataAMF0, "|RtmpSampleAccess", true, true); err != nil {
		sub.Close()
		return err
	}
	// Logged once the client was told, so that every "play started" has
	// its "play ended" (the player's): a client gone before Play.Start was
	// written never played.
	log.Info("play started", "stream", req.Name)
	st.player = startPlayer(c, streamID, sub, duration, vod)
	c.progress(c.cfg.IdleTimeout, "idle")
	return nil
}

// logNameMax is how much of a client's name goes into a log line or a
// refusal: a 10 KB name must not ride on every line.
const logNameMax = 64

// logName is name cut to logNameMax bytes (at a rune boundary) with its
// length, for logs and refusals.
func logName(name string) string {
	if len(name) <= logNameMax {
		return name
	}
	cut := logNameMax
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", name[:cut], len(name))
}
