package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

// PublishRTMP connects our RTMP client to url and publishes the stream
// url names (see dialRTMP).
func PublishRTMP(t testing.TB, url string) *rtmp.Client {
	t.Helper()
	return dialRTMP(t, url, "publish", (*rtmp.Client).Publish)
}

// PlayRTMP connects our RTMP client to url and plays the stream url
// names (see dialRTMP).
func PlayRTMP(t testing.TB, url string) *rtmp.Client {
	t.Helper()
	return dialRTMP(t, url, "play", (*rtmp.Client).Play)
}

// dialRTMP connects and starts the stream within 10 s, with 5 s for each
// read or write, and fails the test if either is refused. The client is
// closed when the test ends, and not before: callers must not close it.
func dialRTMP(t testing.TB, url, what string, start func(*rtmp.Client, context.Context, string) error) *rtmp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, name, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := start(c, ctx, name); err != nil {
		t.Fatalf("%s %s: %v", what, url, err)
	}
	return c
}
