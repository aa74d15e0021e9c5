package appliance

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/tapedeck/tapedeck/rtmp"
)

// authorize applies an app's keys and allowed networks to a client.
func authorize(a AccessConfig, remote net.Addr, q url.Values) error {
	if len(a.Allow) > 0 {
		ip := remoteIP(remote)
		allowed := false
		for _, c := range a.Allow {
			if p, err := parseNet(c); err == nil && ip.IsValid() && p.Contains(ip.Unmap()) {
				allowed = true
				break
			}
		}
		if !allowed {
			return fmt.Errorf("%w: address %s not allowed", rtmp.ErrUnauthorized, ip)
		}
	}
	if len(a.Keys) > 0 {
		given := q.Get("key")
		for _, k := range a.Keys {
			if subtle.ConstantTimeCompare([]byte(k), []byte(given)) == 1 {
				return nil
			}
		}
		if given == "" {
			return fmt.Errorf("%w: key required", rtmp.ErrUnauthorized)
		}
		return fmt.Errorf("%w: wrong key", rtmp.ErrUnauthorized)
	}
	return nil
}

func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// hookEvent is the JSON body of a webhook call.
type hookEvent struct {
	Action string            `json:"action"` // publish, play, publish_done
	App    string            `json:"app"`
	Stream string            `json:"stream"`
	Addr   string            `json:"addr"`
	Query  map[string]string `json:"query,omitempty"`
}

// callHook POSTs ev to url; a non-2xx answer or a failure is an error.
func callHook(ctx context.Context, client *http.Client, url string, timeout time.Duration, ev hookEvent) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", ev.Action, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", ev.Action, resp.Status)
	}
	return nil
}

// flatQuery passes the client's query, key included, so a webhook can do
// its own authentication as nginx-rtmp's on_publish does.
func flatQuery(q url.Values) map[string]string {
	if len(q) == 0 {
		return nil
	}
	m := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}
