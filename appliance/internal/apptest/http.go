package apptest

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tapedeck/tapedeck/appliance"
)

// Do makes a request without a body to the appliance's HTTP API, with
// token as its bearer token unless empty, and returns the status, headers
// and body. A request that cannot be made fails the test.
func Do(t testing.TB, a *appliance.Appliance, method, path, token string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.HTTPAddr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}
