package rtmp

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// clientKey is the address a connection counts against for the
// per-address limit: the IPv4 address, or the /64 of an IPv6 one (one
// host usually holds a whole /64, so counting single IPv6 addresses would
// give it millions of slots). Its zero value means "not an IP peer"
// (net.Pipe in tests), which no per-address limit applies to.
func clientKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// refusalLogEvery is how often one address's refused connections are
// logged: a flood must not become a log line per connection.
const refusalLogEvery = time.Minute

// refusalLogAddrs bounds the addresses remembered between log lines,
// the shared line included: beyond it, refusals from new addresses share
// that one line.
const refusalLogAddrs = 1024

// refusalLog logs refused connections once per address per interval,
// with how many were refused since the address's previous line.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration

	mu   sync.Mutex
	seen map[netip.Prefix]*refusalCount
}

type refusalCount struct {
	logged time.Time
	n      int // refused since logged
}

func newRefusalLog(log *slog.Logger, every time.Duration) *refusalLog {
	return &refusalLog{log: log, every: every, seen: make(map[netip.Prefix]*refusalCount)}
}

// refused notes one refused connection from key and logs when the
// address's interval has passed.
func (r *refusalLog) refused(key netip.Prefix, reason string, limit int) {
	now := time.Now()
	r.mu.Lock()
	rc := r.seen[key]
	if rc == nil {
		// One entry stays free for the shared line.
		if len(r.seen) >= refusalLogAddrs-1 {
			r.pruneLocked(now)
		}
		if len(r.seen) >= refusalLogAddrs-1 {
			key = netip.Prefix{} // too many addresses: one line for the rest
			rc = r.seen[key]
		}
		if rc == nil {
			rc = &refusalCount{}
			r.seen[key] = rc
		}
	}
	rc.n++
	if !rc.logged.IsZero() && now.Sub(rc.logged) < r.every {
		r.mu.Unlock()
		return
	}
	n := rc.n
	rc.logged, rc.n = now, 0
	r.mu.Unlock()
	addr := "other addresses"
	if key.IsValid() {
		addr = key.String()
	}
	r.log.Warn("rtmp connections refused", "addr", addr, "reason", reason, "limit", limit, "refused", n, "next_report_in", r.every)
}

// pruneLocked forgets addresses whose interval is over.
func (r *refusalLog) pruneLocked(now time.Time) {
	for k, rc := range r.seen {
		if now.Sub(rc.logged) >= r.every {
			delete(r.seen, k)
		}
	}
}
