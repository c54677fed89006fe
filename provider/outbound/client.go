// Package outbound builds the HTTP client gatehouse uses to fetch URLs that
// clients registered (a jwks_uri). Such a URL is chosen by whoever
// registers a client, so the client must not become a way into the
// internal network (SSRF): it refuses to connect to loopback, private,
// link-local and other non-public addresses, judged on the IP address it
// actually dials, after DNS resolution, for every connection and every
// redirect hop. That also defeats DNS rebinding, where a name resolves to a
// public address when checked and to a private one when used.
package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxRedirects = 3
)

// Options configure NewClient.
type Options struct {
	// AllowPrivateNetworks lets requests reach loopback, private,
	// link-local and other non-public addresses. For tests and development
	// only (config http_client.allow_private_networks).
	AllowPrivateNetworks bool
	// Timeout bounds a whole request, redirects and body read included, and
	// each of its phases (dial, TLS handshake, waiting for the response
	// header). 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects is how many redirects a request may follow. 0 means
	// DefaultMaxRedirects; a negative value follows none.
	MaxRedirects int
	// Resolver, when set, resolves host names instead of the system's
	// (tests: a name that answers a private address). The address check
	// runs on what is dialled whatever resolved it.
	Resolver *net.Resolver
	// RootCAs, when set, replaces the system's certificate authorities
	// (config http_client.ca_file; for tests and development, where a
	// server on loopback has a certificate of a private CA).
	RootCAs *x509.CertPool
}

// ErrRedirectRefused is the error of a request answered with a redirect
// by a client that follows none (MaxRedirects < 0).
var ErrRedirectRefused = errors.New("outbound: redirects are not followed")

// maxResponseHeaderBytes bounds the response header; the bodies we fetch
// are small documents, and a remote party must not make us buffer
// megabytes of headers.
const maxResponseHeaderBytes = 64 << 10

// NewClient returns an HTTP client for URLs that third parties control.
// It speaks only http and https, ignores proxy settings from the
// environment (a proxy would make the dial-time address check meaningless),
// and enforces the timeouts and the redirect limit of opts.
func NewClient(opts Options) *http.Client {
	allow := opts.AllowPrivateNetworks
	return newClient(opts, func(ap netip.AddrPort) error { return CheckIP(ap.Addr(), allow) })
}

// newClient is NewClient with the address check injected, so tests can
// admit one loopback server and show that a redirect elsewhere is refused.
func newClient(opts Options, check func(netip.AddrPort) error) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxRedirects := opts.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = DefaultMaxRedirects
	}
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Resolver:  opts.Resolver,
		// Control runs after name resolution, right before connect(2), with
		// the literal address: what it approves is what we connect to.
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(network, address, check)
		},
	}
	transport := &http.Transport{
		Proxy:                  nil, // never from HTTP_PROXY & co.
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
	}
	return &http.Client{
		Transport: schemeCheck{transport},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// via holds the requests already made: len(via) is the number
			// of this redirect.
			if maxRedirects < 0 {
				return ErrRedirectRefused
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("outbound: stopped after %d redirects", maxRedirects)
			}
			if err := checkScheme(req); err != nil {
				return err
			}
			if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
				return errors.New("outbound: refusing a redirect from https to http")
			}
			return nil
		},
	}
}

// checkDial refuses anything but a TCP connection to an approved address.
func checkDial(network, address string, check func(netip.AddrPort) error) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("outbound: refusing to dial network %q", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: refusing to dial unparsable address %q: %w", address, err)
	}
	return check(ap)
}

// schemeCheck refuses schemes other than http and https before the
// transport sees them (http.Transport can be taught other protocols with
// RegisterProtocol; this client must not be).
type schemeCheck struct{ next http.RoundTripper }

func (s schemeCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	return s.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport through the wrapper.
func (s schemeCheck) CloseIdleConnections() {
	if c, ok := s.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func checkScheme(req *http.Request) error {
	switch req.URL.Scheme {
	case "http", "https":
		return nil
	}
	return fmt.Errorf("outbound: refusing URL scheme %q (only http and https)", req.URL.Scheme)
}

// IsBlocked reports whether err (from a request made with a client of this
// package) was caused by the address check, and returns that cause.
func IsBlocked(err error) (*BlockedAddressError, bool) {
	var b *BlockedAddressError
	ok := errors.As(err, &b)
	return b, ok
}

// compile-time check that the wrapper is a RoundTripper.
var _ http.RoundTripper = schemeCheck{}
