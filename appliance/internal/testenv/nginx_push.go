package testenv

import "testing"

// StartNginxPush runs nginx-rtmp (see StartNginx) whose application
// "live" pushes every stream published to it, under the same name, to the
// RTMP application at pushTo (rtmp://host:port/app): nginx-rtmp as the
// client that relays into our server.
func StartNginxPush(t testing.TB, pushTo string) *Nginx {
	t.Helper()
	return startNginx(t, false, "live on; push "+pushTo+";")
}
