package pull

import (
	"bufio"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Limits of what an RTSP server may send.
const (
	maxLineBytes   = 8 << 10
	maxHeaderLines = 128
	maxBodyBytes   = 256 << 10
)

// Response is an RTSP response (or, when Method is set, a request the
// server sent us).
type Response struct {
	Status int
	Reason string
	Method string // server-to-client request, e.g. "OPTIONS", "ANNOUNCE"
	Header Header
	Body   []byte
}

// Header holds RTSP headers by lower-cased name.
type Header map[string][]string

// Get returns the first value of name.
func (h Header) Get(name string) string {
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

var errLine = errors.New("rtsp: line too long")

func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		line = append(line, frag...)
		if len(line) > maxLineBytes {
			return "", errLine
		}
		if !isPrefix {
			return string(line), nil
		}
	}
}

// ReadResponse reads one RTSP message (status line, headers, body of
// Content-Length bytes) from br. Interleaved '$' frames must have been
// consumed by the caller.
func ReadResponse(br *bufio.Reader) (*Response, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	r := &Response{Header: Header{}}
	if rest, ok := strings.CutPrefix(line, "RTSP/"); ok {
		_, status, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("rtsp: malformed status line %q", trunc(line))
		}
		code, reason, _ := strings.Cut(status, " ")
		n, err := strconv.Atoi(code)
		if err != nil || len(code) != 3 || n < 100 {
			return nil, fmt.Errorf("rtsp: malformed status line %q", trunc(line))
		}
		r.Status, r.Reason = n, reason
	} else {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "RTSP/") {
			return nil, fmt.Errorf("rtsp: malformed status line %q", trunc(line))
		}
		r.Method = f[0]
	}
	for i := 0; ; i++ {
		if i > maxHeaderLines {
			return nil, errors.New("rtsp: too many header lines")
		}
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("rtsp: malformed header line %q", trunc(line))
		}
		k = strings.ToLower(strings.TrimSpace(k))
		r.Header[k] = append(r.Header[k], strings.TrimSpace(v))
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxBodyBytes {
			return nil, fmt.Errorf("rtsp: bad Content-Length %q", trunc(cl))
		}
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return nil, fmt.Errorf("rtsp: body: %w", err)
		}
	}
	return r, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ---- SDP ----

// SDP is the part of a session description a client needs.
type SDP struct {
	Control string // session-level a=control
	Medias  []Media
}

// Media is one m= section.
type Media struct {
	Type        string // video, audio, ...
	Port        int
	Proto       string // RTP/AVP, RTP/AVPF, RTP/SAVP, ...
	PayloadType int    // the first payload type with an rtpmap (or the first)
	Codec       string // upper case encoding name: H264, H265, MPEG4-GENERIC, PCMA, PCMU
	ClockRate   int
	Channels    int
	Fmtp        map[string]string // keys lower-cased
	Control     string
}

// ParseSDP parses a session description.
func ParseSDP(b []byte) (*SDP, error) {
	if len(b) > maxBodyBytes {
		return nil, errors.New("sdp: too large")
	}
	s := &SDP{}
	var m *Media
	type rtpmap struct {
		codec          string
		rate, channels int
	}
	maps := map[int]rtpmap{}
	fmtps := map[int]string{}
	var pts []int
	finish := func() {
		if m == nil {
			return
		}
		m.PayloadType = -1
		for _, pt := range pts {
			if rm, ok := maps[pt]; ok {
				m.PayloadType, m.Codec, m.ClockRate, m.Channels = pt, rm.codec, rm.rate, rm.channels
				break
			}
		}
		if m.PayloadType < 0 && len(pts) > 0 { // static payload types
			m.PayloadType = pts[0]
			switch pts[0] {
			case 0:
				m.Codec, m.ClockRate, m.Channels = "PCMU", 8000, 1
			case 8:
				m.Codec, m.ClockRate, m.Channels = "PCMA", 8000, 1
			case 14:
				m.Codec, m.ClockRate = "MPA", 90000
			case 26:
				m.Codec, m.ClockRate = "JPEG", 90000
			case 33:
				m.Codec, m.ClockRate = "MP2T", 90000
			}
		}
		if f, ok := fmtps[m.PayloadType]; ok {
			m.Fmtp = parseFmtp(f)
		}
		s.Medias = append(s.Medias, *m)
		clear(maps)
		clear(fmtps)
		pts = pts[:0]
	}
	sawV := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'v':
			sawV = true
		case 'm':
			finish()
			if len(s.Medias) >= 16 {
				return nil, errors.New("sdp: too many media")
			}
			f := strings.Fields(val)
			if len(f) < 3 {
				return nil, fmt.Errorf("sdp: malformed m= line %q", trunc(line))
			}
			port, _ := strconv.Atoi(strings.Split(f[1], "/")[0])
			m = &Media{Type: f[0], Port: port, Proto: f[2]}
			for _, p := range f[3:] {
				if n, err := strconv.Atoi(p); err == nil && n >= 0 && n < 128 && len(pts) < 32 {
					pts = append(pts, n)
				}
			}
		case 'a':
			k, v, _ := strings.Cut(val, ":")
			switch k {
			case "control":
				if m == nil {
					s.Control = v
				} else {
					m.Control = v
				}
			case "rtpmap":
				if m == nil {
					continue
				}
				pt, enc, ok := strings.Cut(v, " ")
				n, err := strconv.Atoi(pt)
				if !ok || err != nil || len(maps) >= 32 {
					continue
				}
				parts := strings.Split(strings.TrimSpace(enc), "/")
				rm := rtpmap{codec: strings.ToUpper(parts[0])}
				if len(parts) > 1 {
					rm.rate, _ = strconv.Atoi(parts[1])
				}
				if len(parts) > 2 {
					rm.channels, _ = strconv.Atoi(parts[2])
				}
				maps[n] = rm
			case "fmtp":
				if m == nil {
					continue
				}
				pt, params, _ := strings.Cut(v, " ")
				if n, err := strconv.Atoi(pt); err == nil && len(fmtps) < 32 {
					fmtps[n] = params
				}
			}
		}
	}
	finish()
	if !sawV {
		return nil, errors.New("sdp: no v= line")
	}
	return s, nil
}

func parseFmtp(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			out[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// H264Params returns the parameter sets of fmtp sprop-parameter-sets.
func (m *Media) H264Params() [][]byte {
	var out [][]byte
	for _, p := range strings.Split(m.Fmtp["sprop-parameter-sets"], ",") {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p)); err == nil && len(b) > 0 {
			out = append(out, b)
		} else if b, err := base64.RawStdEncoding.DecodeString(strings.TrimSpace(p)); err == nil && len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// H265Params returns sprop-vps, sprop-sps and sprop-pps.
func (m *Media) H265Params() [][]byte {
	var out [][]byte
	for _, k := range []string{"sprop-vps", "sprop-sps", "sprop-pps"} {
		for _, p := range strings.Split(m.Fmtp[k], ",") {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p)); err == nil && len(b) > 0 {
				out = append(out, b)
			}
		}
	}
	return out
}

// fmtpInt returns an integer fmtp parameter.
func (m *Media) fmtpInt(k string) int {
	n, _ := strconv.Atoi(m.Fmtp[k])
	return n
}

// resolveControl returns the URL to SETUP a track with control attribute
// ctl, relative to base (Content-Base or the DESCRIBE URL).
func resolveControl(base, ctl string) string {
	switch {
	case ctl == "" || ctl == "*":
		return base
	case strings.HasPrefix(strings.ToLower(ctl), "rtsp://"), strings.HasPrefix(strings.ToLower(ctl), "rtsps://"):
		return ctl
	}
	if strings.HasSuffix(base, "/") {
		return base + ctl
	}
	return base + "/" + ctl
}

// ---- authentication ----

// auth answers WWW-Authenticate challenges.
type auth struct {
	user, pass string
	scheme     string // "basic" or "digest"
	realm      string
	nonce      string
	opaque     string
	qop        string
	algorithm  string
	nc         int
}

// parseChallenge picks Digest over Basic from the challenges in hdrs.
func parseChallenge(hdrs []string, user, pass string) (*auth, error) {
	var basic *auth
	for _, h := range hdrs {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		switch strings.ToLower(scheme) {
		case "digest":
			a := &auth{user: user, pass: pass, scheme: "digest"}
			p := parseAuthParams(rest)
			a.realm, a.nonce, a.opaque, a.algorithm = p["realm"], p["nonce"], p["opaque"], p["algorithm"]
			if a.algorithm != "" && !strings.EqualFold(a.algorithm, "MD5") {
				continue
			}
			for _, q := range strings.Split(p["qop"], ",") {
				if strings.TrimSpace(q) == "auth" {
					a.qop = "auth"
				}
			}
			if a.nonce == "" {
				continue
			}
			return a, nil
		case "basic":
			basic = &auth{user: user, pass: pass, scheme: "basic"}
		}
	}
	if basic != nil {
		return basic, nil
	}
	return nil, errors.New("rtsp: no supported authentication scheme offered (Basic, Digest MD5)")
}

// parseAuthParams splits k=v, k="v, w" lists.
func parseAuthParams(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ,\t")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			rest = rest[1:]
			end := strings.IndexByte(rest, '"')
			if end < 0 {
				v, rest = rest, ""
			} else {
				v, rest = rest[:end], rest[end+1:]
			}
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
		}
		out[k] = v
		s = rest
	}
	return out
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// header returns the Authorization header for method on uri.
func (a *auth) header(method, uri string) string {
	if a.scheme == "basic" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.user+":"+a.pass))
	}
	ha1 := md5hex(a.user + ":" + a.realm + ":" + a.pass)
	ha2 := md5hex(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, a.user, a.realm, a.nonce, uri)
	if a.qop != "" {
		a.nc++
		var cb [8]byte
		rand.Read(cb[:])
		cnonce := hex.EncodeToString(cb[:])
		nc := fmt.Sprintf("%08x", a.nc)
		resp := md5hex(ha1 + ":" + a.nonce + ":" + nc + ":" + cnonce + ":" + a.qop + ":" + ha2)
		fmt.Fprintf(&b, `, response="%s", qop=%s, nc=%s, cnonce="%s"`, resp, a.qop, nc, cnonce)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, md5hex(ha1+":"+a.nonce+":"+ha2))
	}
	if a.opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, a.opaque)
	}
	if a.algorithm != "" {
		fmt.Fprintf(&b, `, algorithm=%s`, a.algorithm)
	}
	return b.String()
}

// ---- URLs ----

// RedactURL returns u with its password and query values masked, for logs
// and the API.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[unparseable url]"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// parseTransport returns the parameters of a Transport header.
func parseTransport(s string) map[string]string {
	out := map[string]string{}
	first, _, _ := strings.Cut(s, ",") // the server picks one
	for i, p := range strings.Split(first, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if i == 0 {
			out["proto"] = k
			continue
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

// parseRange parses "a-b" as two ints.
func parseRange(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.Atoi(a)
	if !ok {
		return x, x + 1, err1 == nil
	}
	y, err2 := strconv.Atoi(b)
	return x, y, err1 == nil && err2 == nil
}

// rtpInfo maps the url of each RTP-Info entry to its rtptime.
func parseRTPInfo(s string) map[string]uint32 {
	out := map[string]uint32{}
	for _, e := range strings.Split(s, ",") {
		var u string
		var ts uint32
		has := false
		for _, p := range strings.Split(e, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(k) {
			case "url":
				u = v
			case "rtptime":
				n, err := strconv.ParseUint(v, 10, 32)
				if err == nil {
					ts, has = uint32(n), true
				}
			}
		}
		if u != "" && has {
			out[u] = ts
		}
	}
	return out
}

// sessionID returns the session id and timeout of a Session header.
func sessionID(s string) (string, int) {
	id, rest, _ := strings.Cut(s, ";")
	timeout := 0
	for _, p := range strings.Split(rest, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "timeout") {
			timeout, _ = strconv.Atoi(v)
		}
	}
	return strings.TrimSpace(id), timeout
}
