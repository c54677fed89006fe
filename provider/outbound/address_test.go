package outbound

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckIP(t *testing.T) {
	tests := []struct {
		ip string
		// reason is a substring of the refusal; "" means public.
		reason string
		// allowed: still accepted when private networks are allowed.
		allowed bool
	}{
		// Public.
		{"8.8.8.8", "", true},
		{"1.1.1.1", "", true},
		{"93.184.216.34", "", true},
		{"100.63.255.255", "", true}, // just below CGNAT
		{"100.128.0.0", "", true},    // just above CGNAT
		{"172.15.255.255", "", true}, // just below 172.16/12
		{"172.32.0.0", "", true},     // just above 172.16/12
		{"2606:4700:4700::1111", "", true},
		{"2a00:1450:4001:80b::200e", "", true},
		{"::ffff:8.8.8.8", "", true},   // mapped public IPv4
		{"64:ff9b::808:808", "", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", "", true},  // 6to4 of 8.8.8.8
		{"2001:4860:4860::8888", "", true},

		// IPv4 special purpose.
		{"127.0.0.1", "loopback", true},
		{"127.255.255.254", "loopback", true},
		{"10.0.0.1", "private", true},
		{"172.16.0.1", "private", true},
		{"172.31.255.255", "private", true},
		{"192.168.1.1", "private", true},
		{"100.64.0.1", "carrier-grade NAT", true},
		{"100.127.255.255", "carrier-grade NAT", true},
		{"169.254.169.254", "link-local", true},
		{"0.0.0.0", "unspecified", false},
		{"0.1.2.3", "unspecified", false},
		{"255.255.255.255", "broadcast", false},
		{"224.0.0.1", "multicast", false},
		{"239.255.255.250", "multicast", false},
		{"240.0.0.1", "reserved", true},
		{"192.0.0.8", "IETF protocol", true},
		{"192.0.2.1", "documentation", true},
		{"198.51.100.7", "documentation", true},
		{"203.0.113.9", "documentation", true},
		{"198.18.0.1", "benchmarking", true},
		{"192.88.99.1", "6to4 relay", true},

		// IPv4-mapped forms of the above.
		{"::ffff:127.0.0.1", "loopback", true},
		{"::ffff:10.1.2.3", "private", true},
		{"::ffff:169.254.169.254", "link-local", true},
		{"::ffff:0.0.0.0", "unspecified", false},

		// IPv6 special purpose.
		{"::1", "loopback", true},
		{"::", "unspecified", false},
		{"fe80::1", "link-local", true},
		{"fe80::1%eth0", "link-local", true},
		{"fc00::1", "unique local", true},
		{"fd12:3456:789a::1", "unique local", true},
		{"ff02::1", "multicast", false},
		{"ff05::2", "multicast", false},
		{"fec0::1", "not a global unicast", true},      // deprecated site-local
		{"::7f00:1", "not a global unicast", true},     // IPv4-compatible 127.0.0.1
		{"100::1", "not a global unicast", true},       // discard-only
		{"64:ff9b:1::1", "not a global unicast", true}, // local-use NAT64
		{"64:ff9b::7f00:1", "NAT64 address of a loopback", true},
		{"64:ff9b::a9fe:a9fe", "NAT64 address of a link-local", true},
		{"2002:7f00:1::", "6to4 address of a loopback", true},
		{"2002:c0a8:101::1", "6to4 address of a private", true},
		{"2001:db8::1", "documentation", true},
		{"3fff::1", "documentation", true},
		{"2001:0:4136:e378::1", "Teredo", true},
		{"2001:2::1", "IETF protocol", true}, // benchmarking
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		err := CheckIP(ip, false)
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.ip, err)
		case tc.reason != "" && err == nil:
			t.Errorf("%s: accepted, want refused (%s)", tc.ip, tc.reason)
		case tc.reason != "" && !strings.Contains(err.Error(), tc.reason):
			t.Errorf("%s: error %q does not say %q", tc.ip, err, tc.reason)
		}
		if got := CheckIP(ip, true) == nil; got != tc.allowed {
			t.Errorf("%s with private networks allowed: accepted=%v, want %v", tc.ip, got, tc.allowed)
		}
	}
	if CheckIP(netip.Addr{}, true) == nil {
		t.Error("the zero Addr was accepted")
	}
}
