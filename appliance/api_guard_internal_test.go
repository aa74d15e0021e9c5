package appliance

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// guardTAppliance is an appliance that is not started: its API handler
// is driven directly, from any client address.
func guardTAppliance(t *testing.T, token string) *Appliance {
	t.Helper()
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Token = token
	cfg.Storage.Dir = t.TempDir()
	return New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

type guardTReq struct {
	method, path, remote, host string
	headers                    map[string]string
	body                       string
}

func guardTDo(t *testing.T, h http.Handler, q guardTReq) (int, string) {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, "http://"+q.host+q.path, body)
	r.RemoteAddr = q.remote
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// Without http.token, calls that change something are taken from
// loopback only, from the box's own origin, with JSON bodies.
func TestAPIGuardWithoutToken(t *testing.T) {
	h := guardTAppliance(t, "").apiHandler()
	const local, lan = "127.0.0.1:40000", "192.168.1.5:40000"
	const host = "127.0.0.1:8080"
	json := map[string]string{"Content-Type": "application/json"}
	push := `{"url":"rtmp://a.rtmp.youtube.com/live2/k"}`
	cases := []struct {
		name string
		req  guardTReq
		code int
		msg  string
	}{
		{"read from the LAN", guardTReq{method: "GET", path: "/api/v1/streams", remote: lan, host: host}, 200, "["},
		{"kick from the LAN", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/kick", remote: lan, host: host}, 403, "(loopback) only"},
		{"delete from the LAN", guardTReq{method: "DELETE", path: "/api/v1/recordings/live/cam1/x.mp4", remote: lan, host: host}, 403, "(loopback) only"},
		{"cross-site text/plain POST", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host,
			headers: map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, body: push}, 403, "cross-origin"},
		{"cross-site JSON POST", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host,
			headers: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body: push}, 403, "cross-origin"},
		{"cross-site by Sec-Fetch-Site", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/kick", remote: local, host: host,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin"},
		{"DNS rebinding", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: "evil.example:8080",
			headers: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:8080"}, body: push}, 403, "Host"},
		{"text/plain from loopback", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host,
			headers: map[string]string{"Content-Type": "text/plain"}, body: push}, 415, "application/json"},
		{"JSON from loopback passes", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host, headers: json, body: push}, 404, "no such live stream"},
		{"same origin passes", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/kick", remote: local, host: host,
			headers: map[string]string{"Origin": "http://" + host}}, 404, "no such live stream"},
		{"push to loopback refused", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host, headers: json,
			body: `{"url":"rtmp://127.0.0.1:8080/live/x"}`}, 403, "127.0.0.1 is loopback and not listed"},
		{"push to a private address refused", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: "localhost:8080", headers: json,
			body: `{"url":"rtmp://192.168.1.1/live/x"}`}, 403, "192.168.1.1 is private"},
		{"oversized body", guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/push", remote: local, host: host, headers: json,
			body: `{"url":"` + strings.Repeat("a", apiMaxBodyBytes) + `"}`}, 400, "body must be JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := guardTDo(t, h, c.req)
			if code != c.code || !strings.Contains(body, c.msg) {
				t.Errorf("%s %s: %d %s, want %d with %q", c.req.method, c.req.path, code, body, c.code, c.msg)
			}
		})
	}
}

// With http.token, the token is what counts, from anywhere.
func TestAPIGuardWithToken(t *testing.T) {
	h := guardTAppliance(t, "s3cret").apiHandler()
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	if code, _ := guardTDo(t, h, guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/kick", remote: "127.0.0.1:1", host: "127.0.0.1:8080"}); code != 401 {
		t.Errorf("kick without the token from loopback: %d, want 401", code)
	}
	if code, body := guardTDo(t, h, guardTReq{method: "POST", path: "/api/v1/streams/live/cam1/kick", remote: "192.168.1.5:1", host: "box.lan:8080", headers: bearer}); code != 404 {
		t.Errorf("kick with the token from the LAN: %d %s, want 404 (no such stream)", code, body)
	}
	if code, _ := guardTDo(t, h, guardTReq{method: "GET", path: "/healthz", remote: "192.168.1.5:1", host: "box.lan:8080"}); code != 200 {
		t.Errorf("healthz without the token: %d", code)
	}
}
