package rtmp

import "testing"

func TestNameFromPath(t *testing.T) {
	for _, tc := range []struct {
		app, tcURL, wantApp, wantName string
	}{
		// gortmplib: the whole URL path is the app, the name is empty.
		{"live/hevc", "rtmp://box/live/hevc", "live", "hevc"},
		{"live/inst/hevc", "rtmp://box/live/inst/hevc", "live/inst", "hevc"},
		// Only tcUrl carries the name.
		{"live", "rtmp://box:1935/live/cam?key=x", "live", "cam"},
		{"", "rtmp://box/live/cam", "live", "cam"},
		{"live", "rtmp://box/live/inst/cam", "live/inst", "cam"},
		// Nothing to take: the request stays without a name.
		{"live", "rtmp://box/live", "live", ""},
		{"live", "rtmp://box/other/cam", "live", ""},
		{"live", "", "live", ""},
		{"", "", "", ""},
		{"live", "::bad url", "live", ""},
	} {
		app, name := nameFromPath(tc.app, tc.tcURL)
		if app != tc.wantApp || name != tc.wantName {
			t.Errorf("nameFromPath(%q, %q) = %q, %q; want %q, %q", tc.app, tc.tcURL, app, name, tc.wantApp, tc.wantName)
		}
	}
}
