package pull

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

const gstSDP = "v=0\r\no=- 1188340656180883 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=control:*\r\na=range:npt=now-\r\n" +
	"m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHtkAoEf+yA==,aM48gA==;profile-level-id=42c01e;level-asymmetry-allowed=1\r\na=control:stream=0\r\n" +
	"m=audio 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\na=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3\r\na=control:stream=1\r\n"

func TestParseSDP(t *testing.T) {
	s, err := ParseSDP([]byte(gstSDP))
	if err != nil {
		t.Fatal(err)
	}
	if s.Control != "*" || len(s.Medias) != 2 {
		t.Fatalf("%+v", s)
	}
	v, a := s.Medias[0], s.Medias[1]
	if v.Codec != "H264" || v.ClockRate != 90000 || v.Control != "stream=0" || v.PayloadType != 96 {
		t.Errorf("video %+v", v)
	}
	if ps := v.H264Params(); len(ps) != 2 || ps[0][0] != 0x67 || ps[1][0] != 0x68 {
		t.Errorf("sprop %x", ps)
	}
	if a.Codec != "MPEG4-GENERIC" || a.ClockRate != 48000 || a.Channels != 2 || a.Fmtp["config"] != "1190" || a.fmtpInt("sizelength") != 13 || !supported(&a) {
		t.Errorf("audio %+v", a)
	}
	if got := resolveControl("rtsp://h/cam/", "stream=1"); got != "rtsp://h/cam/stream=1" {
		t.Error(got)
	}
	if got := resolveControl("rtsp://h/cam", "rtsp://x/y"); got != "rtsp://x/y" {
		t.Error(got)
	}
	// static payload type without rtpmap
	s, _ = ParseSDP([]byte("v=0\nm=audio 0 RTP/AVP 8\n"))
	if s.Medias[0].Codec != "PCMA" || s.Medias[0].ClockRate != 8000 {
		t.Errorf("%+v", s.Medias[0])
	}
}

func TestReadResponse(t *testing.T) {
	raw := "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:8554/cam/\r\nContent-Length: 5\r\n\r\nhelloRTSP/1.0 401 Unauthorized\r\nCSeq: 4\r\nWWW-Authenticate: Basic realm=\"x\"\r\nWWW-Authenticate: Digest realm=\"IP Camera\", nonce=\"abc\", qop=\"auth,auth-int\"\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	r, err := ReadResponse(br)
	if err != nil || r.Status != 200 || string(r.Body) != "hello" || r.Header.Get("content-base") != "rtsp://127.0.0.1:8554/cam/" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ReadResponse(br)
	if err != nil || r.Status != 401 || len(r.Header["www-authenticate"]) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	a, err := parseChallenge(r.Header["www-authenticate"], "u", "p")
	if err != nil || a.scheme != "digest" || a.realm != "IP Camera" || a.nonce != "abc" || a.qop != "auth" {
		t.Fatalf("%+v %v", a, err)
	}
	h := a.header("DESCRIBE", "rtsp://h/cam")
	if !strings.HasPrefix(h, `Digest username="u", realm="IP Camera", nonce="abc", uri="rtsp://h/cam", response="`) || !strings.Contains(h, "nc=00000001") {
		t.Error(h)
	}
	for _, bad := range []string{"HTTP/1.1 200 OK\r\n\r\n", "RTSP/1.0 2x0 OK\r\n\r\n", "RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n", "RTSP/1.0 200 OK\r\nbroken\r\n\r\n"} {
		if _, err := ReadResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHeadersParsing(t *testing.T) {
	if id, to := sessionID("12345678;timeout=60"); id != "12345678" || to != 60 {
		t.Error(id, to)
	}
	info := parseRTPInfo("url=rtsp://127.0.0.1:8554/cam/stream=0;seq=7013;rtptime=3284213450, url=rtsp://127.0.0.1:8554/cam/stream=1;seq=1;rtptime=12")
	if info["rtsp://127.0.0.1:8554/cam/stream=0"] != 3284213450 || info["rtsp://127.0.0.1:8554/cam/stream=1"] != 12 {
		t.Error(info)
	}
	tp := parseTransport("RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=1234")
	if a, b, ok := parseRange(tp["interleaved"]); !ok || a != 2 || b != 3 || tp["proto"] != "RTP/AVP/TCP" {
		t.Error(tp)
	}
	if got := RedactURL("rtsp://admin:s3cret@cam:554/live?token=abc"); strings.Contains(got, "s3cret") || strings.Contains(got, "abc") || !strings.Contains(got, "admin") {
		t.Error(got)
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(gstSDP))
	f.Add([]byte("v=0\nm=video 0 RTP/AVP 96 97\na=rtpmap:97 H265/90000\na=fmtp:97 sprop-vps=QAEMAf//;sprop-sps=QgEB;sprop-pps=RAHA\n"))
	f.Add([]byte("v=0\nm=audio\na=rtpmap:x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSDP(b)
		if err != nil {
			return
		}
		for i := range s.Medias {
			m := &s.Medias[i]
			m.H264Params()
			m.H265Params()
			supported(m)
			resolveControl("rtsp://h/x", m.Control)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, GET_PARAMETER\r\n\r\n"))
	f.Add([]byte("RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\r\nContent-Length: 2\r\n\r\nxx"))
	f.Add([]byte("RTSP/1.0 200 OK\r\nSession: 1;timeout=60\r\nTransport: RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001\r\nRTP-Info: url=a;seq=1;rtptime=2\r\n\r\n"))
	f.Add([]byte("OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for range 4 {
			r, err := ReadResponse(br)
			if err != nil {
				return
			}
			if len(r.Body) > maxBodyBytes {
				t.Fatal("body too large")
			}
			parseChallenge(r.Header["www-authenticate"], "u", "p")
			sessionID(r.Header.Get("Session"))
			parseTransport(r.Header.Get("Transport"))
			parseRTPInfo(r.Header.Get("RTP-Info"))
		}
	})
}
