package clientjwks

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/provider/outbound"
)

// MaxURILength bounds a registered jwks_uri.
const MaxURILength = 2000

// CheckURI validates a registered jwks_uri: an absolute https URL without
// user information or fragment. allowPrivate (config
// http_client.allow_private_networks, for development and tests) also
// admits http to a loopback host and addresses in private ranges.
//
// This is an early, friendly check at registration. The protection
// against fetching internal URLs is the outbound client, which checks the
// address it actually connects to, whatever a name resolves to.
func CheckURI(raw string, allowPrivate bool) error {
	if len(raw) > MaxURILength {
		return fmt.Errorf("jwks_uri is longer than %d characters", MaxURILength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("jwks_uri is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("jwks_uri must be an absolute URL with a host")
	}
	if u.User != nil {
		return errors.New("jwks_uri must not contain user information")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("jwks_uri must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("jwks_uri has an invalid port")
		}
	}
	host := u.Hostname()
	loopback := isLoopbackHost(host)
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate && loopback:
	case u.Scheme == "http" && allowPrivate:
		return errors.New("jwks_uri must use https (http is allowed only for a loopback host)")
	default:
		return errors.New("jwks_uri must use https")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if b, ok := outbound.IsBlocked(outbound.CheckIP(ip, allowPrivate)); ok {
			return fmt.Errorf("jwks_uri points to a %s", b.Reason)
		}
	} else if loopback && !allowPrivate {
		return errors.New("jwks_uri points to the local host")
	}
	return nil
}

// isLoopbackHost: "localhost" (and names under .localhost, RFC 6761) or a
// loopback address literal.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
