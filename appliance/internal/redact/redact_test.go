package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst", "rtmp://a.rtmp.youtube.com/live2/abcd****"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbCdEfGh", "rtmps://live-api-s.facebook.com:443/rtmp/FB-1****"},
		{"rtmp://127.0.0.1:1935/live/x", "rtmp://127.0.0.1:1935/live/****"},
		{"rtmp://host/live/cam1?key=s3cret&user=bob", "rtmp://host/live/****?key=****&user=****"},
		{"rtmp://host/app/inst/shortkey", "rtmp://host/app/inst/****"},
		{"rtmp://bob:hunter2@host/live/k", "rtmp://bob:****@host/live/****"},
		{"rtmp://host/live/{stream}", "rtmp://host/live/{stream}"},
		{"rtmp://host/live", "rtmp://host/****"},
		{"rtmp://host/", "rtmp://host/"},
		{"not a url", "[unparseable url]"},
		{"rtmp://host/live/%zz", "[unparseable url]"},
		// RTSP: the path names the camera's channel, not a secret.
		{"rtsp://admin:s3cret@cam:554/Streaming/Channels/101", "rtsp://admin:****@cam:554/Streaming/Channels/101"},
		{"rtsps://cam/live?token=abc&x", "rtsps://cam/live?token=****&x"},
		{"rtsp://user@cam/stream1", "rtsp://user@cam/stream1"},
		// Another scheme given where an RTMP URL belongs: its key hidden too.
		{"http://host/live/verysecretstreamkey", "http://host/live/very****"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrubHidesSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, url, text string
		hidden          []string
		kept            string
	}{
		{"rtmp key, query and password", "rtmp://bob:hunter22@host/live/sup3r-s3cret?token=abcdef",
			"rtmp publish sup3r-s3cret?token=abcdef: NetStream.Publish.BadName: sup3r-s3cret (pw hunter22, token abcdef)",
			[]string{"sup3r-s3cret", "abcdef", "hunter22"}, "NetStream.Publish.BadName"},
		{"rtsp password and token", "rtsp://admin:pa55word@cam/ch1?auth=tok3n",
			"401 for admin:pa55word at /ch1?auth=tok3n", []string{"pa55word", "tok3n"}, "/ch1"},
		{"a short password hidden all the same", "rtsp://admin:123@cam/ch1", "401 for admin:123", []string{"123"}, "401 for admin:"},
		{"short pieces kept", "rtmp://h/live/abc", "publish abc refused", nil, "publish abc refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Scrub(tc.text, Secrets(tc.url))
			for _, s := range tc.hidden {
				if strings.Contains(got, s) {
					t.Errorf("scrubbed %q still holds %q", got, s)
				}
			}
			if !strings.Contains(got, tc.kept) {
				t.Errorf("scrub garbled the message: %q lacks %q", got, tc.kept)
			}
		})
	}
}
