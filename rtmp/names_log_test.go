package rtmp

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
)

// gortmplib puts the whole path of rtmp://box/live/scratch in connect's
// app ("live/scratch") and sends no stream name: the publish and play
// lines name app live and stream scratch, as the request resolved them,
// not app=live/scratch (connect's app, which only the connection's own
// lines keep).
func TestPathFormLogLines(t *testing.T) {
	_, addr, logs := startBIServer(t, ServerConfig{}, newBIHandler())
	u, err := url.Parse("rtmp://" + addr + "/live/scratch")
	if err != nil {
		t.Fatal(err)
	}
	waitLog := func(msg string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(logs.String(), msg) {
			if time.Now().After(deadline) {
				t.Fatalf("want the line %s in the log:\n%s", msg, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, publish := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c := &gortmplib.Client{URL: u, Publish: publish}
		err := c.Initialize(ctx)
		cancel()
		if err != nil {
			t.Fatalf("gortmplib (publish %v): %v", publish, err)
		}
		// gortmplib's Initialize returns before the server has answered
		// the publish or play (it does not wait for the onStatus): closing
		// at once could end the connection before the stream started.
		what := "play"
		if publish {
			what = "publish"
		}
		waitLog(`msg="` + what + ` started"`)
		c.Close()
		waitLog(`msg="` + what + ` ended"`)
	}
	want := []string{`msg="publish started"`, `msg="publish ended"`, `msg="play started"`, `msg="play ended"`}
	for _, l := range strings.Split(logs.String(), "\n") {
		for _, msg := range want {
			if strings.Contains(l, msg) && (!strings.Contains(l, " app=live ") || !strings.Contains(l, " stream=scratch") || strings.Contains(l, "live/scratch")) {
				t.Errorf("want app=live stream=scratch, and the app once: %s", l)
			}
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
