package outbound

import (
	"fmt"
	"net/netip"
)

// BlockedAddressError is the error a dial returns when the address it was
// about to connect to is not a public unicast address.
type BlockedAddressError struct {
	Addr   netip.Addr
	Reason string // e.g. "loopback address"
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("outbound: refusing to connect to %s: %s; requests to private or special-purpose networks are not allowed", e.Addr, e.Reason)
}

// rangeRule names a special-purpose range. always marks ranges no
// outbound HTTP request can sensibly target, refused even when private
// networks are allowed: 0.0.0.0 reaches the local host on Linux, and
// multicast or broadcast addresses cannot carry a TCP connection.
type rangeRule struct {
	prefix netip.Prefix
	reason string
	always bool
}

func rule(prefix, reason string, always bool) rangeRule {
	return rangeRule{prefix: netip.MustParsePrefix(prefix), reason: reason, always: always}
}

// ipv4Rules are the IANA IPv4 special-purpose ranges (RFC 6890 and its
// updates) that are not globally reachable, plus multicast and the
// reserved class E. Read-only.
var ipv4Rules = []rangeRule{
	rule("0.0.0.0/8", "unspecified (\"this network\") address", true),
	rule("10.0.0.0/8", "private address (RFC 1918)", false),
	rule("100.64.0.0/10", "shared address space (carrier-grade NAT, RFC 6598)", false),
	rule("127.0.0.0/8", "loopback address", false),
	rule("169.254.0.0/16", "link-local address (includes cloud metadata endpoints)", false),
	rule("172.16.0.0/12", "private address (RFC 1918)", false),
	rule("192.0.0.0/24", "IETF protocol assignment (RFC 6890)", false),
	rule("192.0.2.0/24", "documentation address (TEST-NET-1)", false),
	rule("192.88.99.0/24", "6to4 relay anycast address (deprecated)", false),
	rule("192.168.0.0/16", "private address (RFC 1918)", false),
	rule("198.18.0.0/15", "benchmarking address (RFC 2544)", false),
	rule("198.51.100.0/24", "documentation address (TEST-NET-2)", false),
	rule("203.0.113.0/24", "documentation address (TEST-NET-3)", false),
	rule("224.0.0.0/4", "multicast address", true),
	rule("255.255.255.255/32", "broadcast address", true),
	rule("240.0.0.0/4", "reserved address (class E)", false),
}

// ipv6Rules apply inside 2000::/3 (global unicast); everything outside it
// is refused by CheckIP directly. Read-only.
var ipv6Rules = []rangeRule{
	rule("2001::/32", "Teredo tunnel address", false),
	rule("2001:db8::/32", "documentation address", false),
	rule("2001::/23", "IETF protocol assignment (RFC 2928)", false),
	rule("3fff::/20", "documentation address (RFC 9637)", false),
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// CheckIP returns nil when ip is a public (globally reachable) unicast
// address, and a *BlockedAddressError saying why not otherwise.
// allowPrivate accepts loopback, private, link-local and the other
// non-public ranges, but still refuses unspecified, multicast and
// broadcast addresses.
func CheckIP(ip netip.Addr, allowPrivate bool) error {
	reason, always := classify(ip)
	if reason == "" || (allowPrivate && !always) {
		return nil
	}
	return &BlockedAddressError{Addr: ip, Reason: reason}
}

// classify returns "" for a public unicast address, otherwise the reason
// it is not one and whether it is refused even when private networks are
// allowed.
func classify(ip netip.Addr) (reason string, always bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	// ::ffff:127.0.0.1 reaches 127.0.0.1: judge mapped addresses as IPv4.
	ip = ip.Unmap()
	if ip.Is4() {
		for _, r := range ipv4Rules {
			if r.prefix.Contains(ip) {
				return r.reason, r.always
			}
		}
		return "", false
	}
	ip = ip.WithZone("")
	switch {
	case ip.IsUnspecified():
		return "unspecified address", true
	case ip.IsLoopback():
		return "loopback address", false
	case ip.IsMulticast():
		return "multicast address", true
	case ip.IsLinkLocalUnicast():
		return "link-local address", false
	case ip.IsPrivate():
		return "unique local address (RFC 4193)", false
	case nat64WellKnown.Contains(ip):
		// DNS64 synthesises these for IPv4-only hosts; the IPv4 address
		// in the last 32 bits is where the packets really go.
		b := ip.As16()
		if r, a := classify(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "NAT64 address of a " + r, a
		}
		return "", false
	case !globalUnicast6.Contains(ip):
		// Site-local fec0::/10, IPv4-compatible ::/96, NAT64 local-use
		// 64:ff9b:1::/48, discard-only 100::/64 and the unassigned rest.
		return "not a global unicast address", false
	case sixToFour.Contains(ip):
		// 2002:AABB:CCDD:: is routed to the IPv4 address AA.BB.CC.DD.
		b := ip.As16()
		if r, a := classify(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 address of a " + r, a
		}
		return "", false
	}
	for _, r := range ipv6Rules {
		if r.prefix.Contains(ip) {
			return r.reason, r.always
		}
	}
	return "", false
}
