package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
)

// ErrTargetRefused marks a push target the allow policy refuses.
var ErrTargetRefused = errors.New("target refused by relay.allow_targets")

// PublicHosts is the Policy.Hosts entry that allows every public address.
const PublicHosts = "public"

// Policy says where targets added at runtime (the HTTP API) may push to,
// so that the box cannot be made to dial into the network it sits in:
// loopback, private, link-local and other special ranges are refused
// unless listed. It is checked on the URL and again on every address
// actually dialled, so a public name that resolves to 127.0.0.1 is
// refused as well. Targets from the config file carry no policy: their
// owner wrote them.
type Policy struct {
	// Schemes allowed: "rtmp", "rtmps".
	Schemes []string
	// Hosts allowed: PublicHosts ("public": any public address), host
	// names (any address they resolve to), addresses and CIDRs.
	Hosts []string
}

// ParsePolicyHost checks one Policy.Hosts entry: "public", a CIDR, an
// address or a host name.
func ParsePolicyHost(h string) error {
	if h == PublicHosts {
		return nil
	}
	if _, err := netip.ParsePrefix(h); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if h == "" || strings.ContainsAny(h, "/:@ ?#") {
		return fmt.Errorf("%q is not %q, a CIDR, an address or a host name", h, PublicHosts)
	}
	return nil
}

// check refuses rawURL when its scheme or host is not allowed. It returns
// the check for each address dialled: none when the URL names a listed
// host (its owner vouched for where it resolves).
func (p *Policy) check(rawURL string) (func(netip.Addr) error, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrTargetRefused)
	}
	if !slices.Contains(p.Schemes, u.Scheme) {
		return nil, fmt.Errorf("%w: scheme %q is not one of %v", ErrTargetRefused, u.Scheme, p.Schemes)
	}
	host := strings.ToLower(u.Hostname())
	if _, err := netip.ParseAddr(host); err != nil {
		for _, h := range p.Hosts {
			if strings.EqualFold(h, host) {
				return nil, nil
			}
		}
	}
	allowAddr := func(a netip.Addr) error {
		a = a.Unmap()
		for _, h := range p.Hosts {
			switch {
			case h == PublicHosts:
				if isPublic(a) {
					return nil
				}
			default:
				if pre, err := netip.ParsePrefix(h); err == nil && pre.Contains(a) {
					return nil
				}
				if one, err := netip.ParseAddr(h); err == nil && one.Unmap() == a {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: %s is %s and not listed", ErrTargetRefused, a, addrKind(a))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := allowAddr(a); err != nil {
			return nil, err
		}
	}
	return allowAddr, nil
}

// Check reports whether rawURL may be pushed to, as far as the URL tells:
// the scheme, and the host when it is an address. Names are checked again
// when they are dialled.
func (p *Policy) Check(rawURL string) error {
	_, err := p.check(rawURL)
	return err
}

// dialControl returns a net.Dialer Control that refuses addresses the
// policy does not allow, or nil when rawURL is allowed to go anywhere.
func (p *Policy) dialControl(rawURL string) (func(network, address string, c syscall.RawConn) error, error) {
	allow, err := p.check(rawURL)
	if err != nil || allow == nil {
		return nil, err
	}
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: dialling %q", ErrTargetRefused, address)
		}
		return allow(ap.Addr())
	}, nil
}

// specialRanges are addresses that are not the public internet besides
// what netip's predicates know: shared address space (carrier NAT),
// benchmarking, reserved, "this network", NAT64 (which reaches IPv4 of any
// kind) and the documentation ranges.
var specialRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// isPublic reports whether a is a public unicast address.
func isPublic(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range specialRanges {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// addrKind names why an address is not public, for the refusal.
func addrKind(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast():
		return "multicast"
	case isPublic(a):
		return "public"
	}
	return "a special-purpose address"
}

// describeDialFailure is the status text of a failed connection attempt.
// It never carries bytes the peer sent: a status that quoted what an open
// port answered ("server answered version 72" for a web server) would
// turn the push API into a port scanner. Timeouts, refusals and TLS
// verification failures are ours to describe and are kept.
func describeDialFailure(err error) string {
	var ne net.Error
	if errors.Is(err, ErrTargetRefused) || (errors.As(err, &ne) && ne.Timeout()) {
		return err.Error()
	}
	// The rtmp client's handshake errors start so; one quotes the
	// version byte the server sent.
	if strings.Contains(err.Error(), "rtmp handshake: ") {
		return "connect: the server did not answer with an RTMP handshake"
	}
	return err.Error()
}
