package provider

import (
	"net"
	"strconv"
	"strings"

	"github.com/ory/fosite"
)

// Redirect URIs are compared as strings (RFC 6749 §3.1.2.3, RFC 3986
// §6.2.1; RFC 9700 §4.1.3: exact matching). The one exception is a native
// app's loopback redirect URI, whose port the app picks when it starts
// listening (RFC 8252 §7.3): only the port may differ from the registered
// URI. fosite's own matcher lets much more through for loopback hosts (it
// compares parsed URLs without the port, so userinfo, scheme case,
// percent-encoding and invalid ports pass), and it has no hook, so
// gatehouse checks every authorization request again with this one
// (checkAuthorizeParams) and redirects errors only to a URI it accepts
// (AuthorizeErrorRedirectable).

// errRedirectURIMismatch is the error for a redirect URI that is not
// registered; the hint is fosite's.
var errRedirectURIMismatch = fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.")

// redirectURIAllowed reports whether ar's redirect_uri is one its client
// registered. Without one, fosite used the client's only registered URI.
func redirectURIAllowed(ar fosite.AuthorizeRequester) bool {
	requested := ar.GetRequestForm().Get("redirect_uri")
	return requested == "" || (ar.GetClient() != nil && RedirectURIMatches(requested, ar.GetClient().GetRedirectURIs()))
}

// RedirectURIMatches reports whether requested is one of registered: the
// same string, or a registered http URI on a loopback IP literal with only
// the port changed (or added, or left out) to a valid one (RFC 8252 §7.3;
// §8.3 also says loopback redirects use http and an IP literal, not
// "localhost").
func RedirectURIMatches(requested string, registered []string) bool {
	for _, r := range registered {
		if requested == r || loopbackPortVariant(requested, r) {
			return true
		}
	}
	return false
}

// loopbackPortVariant reports whether requested is registered but for its
// port: the scheme, host, path and query are byte for byte the same.
func loopbackPortVariant(requested, registered string) bool {
	reqHost, reqPort, reqRest, ok := splitLoopbackURI(requested)
	if !ok || (reqPort != "" && !validPort(reqPort)) {
		return false
	}
	regHost, _, regRest, ok := splitLoopbackURI(registered)
	return ok && reqHost == regHost && reqRest == regRest
}

// splitLoopbackURI splits "http://" host [":" port] rest, where host is a
// loopback IP literal (IPv6 in brackets) and rest is the path, query and
// fragment as written. A port separator with nothing after it, userinfo,
// or any other scheme or host is not a loopback URI.
func splitLoopbackURI(raw string) (host, port, rest string, ok bool) {
	after, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		return "", "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	host, port, hasPort := splitPort(after[:end])
	if hasPort && port == "" {
		return "", "", "", false
	}
	rest = after[end:]
	ip := host
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		ip = host[1 : len(host)-1]
		if !strings.Contains(ip, ":") {
			return "", "", "", false
		}
	} else if strings.Contains(host, ":") {
		return "", "", "", false
	}
	parsed := net.ParseIP(ip)
	if parsed == nil || !parsed.IsLoopback() {
		return "", "", "", false
	}
	return host, port, rest, true
}

// CanonicalPort reports whether the port of a URL's authority (without
// userinfo), if it has one, is written in its one canonical form
// (validPort). Redirect URIs match as strings, so one registered with
// another form could never match: registration refuses it.
func CanonicalPort(authority string) bool {
	_, port, hasPort := splitPort(authority)
	return !hasPort || validPort(port)
}

// splitPort splits a URL's authority (without userinfo) into host and
// port; hasPort reports a port separator, even with nothing after it.
func splitPort(authority string) (host, port string, hasPort bool) {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 || i < strings.LastIndexByte(authority, ']') {
		return authority, "", false
	}
	return authority[:i], authority[i+1:], true
}

// validPort reports whether p is a TCP port written in its one canonical
// form: decimal, 1-65535, no sign and no leading zero.
func validPort(p string) bool {
	if p == "" || p[0] == '0' || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// LoopbackHost reports whether host (a URL's Hostname) is on this machine:
// "localhost" or a loopback IP literal — where any program of the device
// can listen (RFC 8252 §8.3).
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
