package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

// ServeRTMP serves h with our RTMP server on a free loopback port, over
// TLS when tc is not nil, until the test ends; it returns the address.
// The server logs nowhere. Serve ending for any reason other than the
// shutdown at the end fails the test.
func ServeRTMP(t testing.TB, h rtmp.Handler, tc *tls.Config) string {
	t.Helper()
	srv := rtmp.NewServer(rtmp.ServerConfig{Logger: slog.New(slog.DiscardHandler)}, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		if tc != nil {
			served <- srv.Serve(tls.NewListener(ln, tc))
			return
		}
		served <- srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, rtmp.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}
