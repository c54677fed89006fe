package clientjwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/provider/outbound"
)

// Defaults for FetcherOptions.
const (
	DefaultTTL                = 10 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxEntries         = 1000
)

// FetcherOptions configure NewFetcher. Zero values mean the defaults.
type FetcherOptions struct {
	// Outbound configures the HTTP client: AllowPrivateNetworks (config
	// http_client.allow_private_networks), Timeout (per fetch, default
	// 5s), MaxRedirects (default 3).
	Outbound outbound.Options
	// HTTPClient replaces the client built from Outbound. For tests only:
	// it must be at least as strict as an outbound client.
	HTTPClient *http.Client
	// TTL is how long a fetched set is used before it is fetched again.
	TTL time.Duration
	// MinRefreshInterval is the least time between two fetches of one
	// location, when fosite asks to bypass the cache (an assertion with an
	// unknown kid) and after a failure. Anyone can send assertions with
	// made-up kids; without this floor each would cost a fetch.
	MinRefreshInterval time.Duration
	// MaxEntries bounds the number of locations cached.
	MaxEntries int
	// MaxBodyBytes bounds a response body; a larger one is an error.
	// Default MaxSetBytes (64 KiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	Now          func() time.Time
	// Source names whose key sets these are in the log ("client jwks_uri"
	// by default; "identity assertion issuer jwks_uri" for ID-JAG issuers).
	Source string
}

// Fetcher resolves clients' jwks_uri for fosite's private_key_jwt
// verification (fosite.JWKSFetcherStrategy). It fetches through an
// outbound client, keeps only keys that pass the same rules as Normalize,
// caches per location, lets one fetch serve all concurrent callers of a
// location, and turns every failure into invalid_client.
type Fetcher struct {
	opts    FetcherOptions
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]*entry
	// fetches lets one fetch of a location serve every caller that asks
	// for it while it runs.
	fetches singleflight.Group
}

var _ fosite.JWKSFetcherStrategy = (*Fetcher)(nil)

// entry is the outcome of the last fetch of a location: a set or an error.
type entry struct {
	set       *josev3.JSONWebKeySet
	err       error
	fetchedAt time.Time
}

// NewFetcher returns a Fetcher.
func NewFetcher(opts FetcherOptions) *Fetcher {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = MaxSetBytes
	}
	if opts.Outbound.Timeout <= 0 {
		opts.Outbound.Timeout = outbound.DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Source == "" {
		opts.Source = "client jwks_uri"
	}
	client := opts.HTTPClient
	if client == nil {
		client = outbound.NewClient(opts.Outbound)
	}
	return &Fetcher{
		opts:    opts,
		client:  client,
		timeout: opts.Outbound.Timeout,
		log:     opts.Logger,
		now:     opts.Now,
		cache:   map[string]*entry{},
	}
}

// AllowPrivateNetworks reports whether this fetcher may reach private
// addresses, so that registration can apply the same policy to a jwks_uri
// (CheckURI's allowPrivate).
func (f *Fetcher) AllowPrivateNetworks() bool { return f.opts.Outbound.AllowPrivateNetworks }

// Resolve returns the key set published at location. ignoreCache (fosite
// sets it when the assertion's kid is not in the cached set) fetches again
// unless the last fetch is more recent than MinRefreshInterval, in which
// case the cached set is returned. The returned set is shared: read only.
//
// Errors are fosite.ErrInvalidClient: fosite's client authentication
// passes an error from the key lookup through unchanged, so the client
// gets a 401 invalid_client, not a server error, whatever the remote
// server did.
func (f *Fetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*josev3.JSONWebKeySet, error) {
	if err := CheckURI(location, f.opts.Outbound.AllowPrivateNetworks); err != nil {
		return nil, fosite.ErrInvalidClient.WithHintf("The client's jwks_uri is not acceptable: %s.", err).WithWrap(err).WithDebug(err.Error())
	}
	if e, ok := f.fresh(location, ignoreCache); ok {
		return e.set, e.err
	}
	// The fetch does not belong to this caller: if its request is
	// cancelled, the others waiting for the same location still get the
	// result, and the cache is filled. The timeout bounds it.
	fetchCtx := context.WithoutCancel(ctx)
	done := f.fetches.DoChan(location, func() (any, error) {
		// A fetch that ended after this caller looked at the cache has
		// filled it: use that rather than fetch again.
		if e, ok := f.fresh(location, ignoreCache); ok {
			return e, nil
		}
		return f.fetchAndStore(fetchCtx, location), nil
	})
	select {
	case r := <-done:
		e := r.Val.(*entry)
		return e.set, e.err
	case <-ctx.Done():
		return nil, fosite.ErrInvalidClient.WithHint("The request ended while the client's jwks_uri was being fetched.").WithWrap(ctx.Err()).WithDebug(ctx.Err().Error())
	}
}

// fresh returns the cached outcome for location if it may be used.
func (f *Fetcher) fresh(location string, ignoreCache bool) (*entry, bool) {
	f.mu.Lock()
	e, ok := f.cache[location]
	f.mu.Unlock()
	if !ok {
		return nil, false
	}
	age := f.now().Sub(e.fetchedAt)
	switch {
	case age < 0:
		// The clock went back: trust nothing cached.
		return nil, false
	case age < f.opts.MinRefreshInterval:
		// Too recent to fetch again, whatever fosite asks: serve the set,
		// or the failure (a failing or hanging URL must not cost a fetch
		// per token request either).
		return e, true
	case e.err != nil || ignoreCache:
		return nil, false
	default:
		return e, age < f.opts.TTL
	}
}

// fetchAndStore fetches location, caches the outcome and returns it.
func (f *Fetcher) fetchAndStore(ctx context.Context, location string) *entry {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	set, err := f.fetch(ctx, location)
	if err != nil {
		// Logged here, once per fetch, not once per waiting request.
		f.log.WarnContext(ctx, f.opts.Source+" fetch failed", "jwks_uri", location, "error", err)
		err = fosite.ErrInvalidClient.
			WithHintf("Unable to get the client's JSON Web Key Set from its jwks_uri: %s.", describe(err)).
			WithWrap(err).WithDebug(err.Error())
	}
	e := &entry{set: set, err: err, fetchedAt: f.now()}
	f.mu.Lock()
	f.store(location, e)
	f.mu.Unlock()
	return e
}

// store caches e, evicting to stay within MaxEntries: first entries that
// are of no further use, then the oldest. f.mu must be held.
func (f *Fetcher) store(location string, e *entry) {
	if _, ok := f.cache[location]; !ok && len(f.cache) >= f.opts.MaxEntries {
		now := f.now()
		var oldest string
		for loc, old := range f.cache {
			age := now.Sub(old.fetchedAt)
			if age >= f.opts.TTL || (old.err != nil && age >= f.opts.MinRefreshInterval) {
				delete(f.cache, loc)
			} else if oldest == "" || old.fetchedAt.Before(f.cache[oldest].fetchedAt) {
				oldest = loc
			}
		}
		if len(f.cache) >= f.opts.MaxEntries {
			delete(f.cache, oldest)
		}
	}
	f.cache[location] = e
}

// fetchError is a failure with a short reason that is safe to show the
// client (the hint); the full error goes to the log.
type fetchError struct {
	reason string
	err    error
}

func (e *fetchError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}
func (e *fetchError) Unwrap() error { return e.err }

func describe(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return "the request failed"
}

// fetch GETs location and parses the key set.
func (f *Fetcher) fetch(ctx context.Context, location string) (*josev3.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, &fetchError{"the URL is not valid", err}
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, new(*outbound.BlockedAddressError)):
			return nil, &fetchError{"its address is not allowed", err}
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
			return nil, &fetchError{"the request timed out", err}
		}
		return nil, &fetchError{"the request failed", err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &fetchError{fmt.Sprintf("the server answered HTTP %d", resp.StatusCode), nil}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBodyBytes+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &fetchError{"the request timed out", err}
		}
		return nil, &fetchError{"reading the response failed", err}
	}
	if int64(len(body)) > f.opts.MaxBodyBytes {
		return nil, &fetchError{fmt.Sprintf("the response is larger than %d bytes", f.opts.MaxBodyBytes), nil}
	}
	return f.parse(ctx, location, body)
}

// parse applies Normalize's key rules to a fetched set, leniently: a key
// that fails them is dropped (and logged), since one odd key in a
// published set should not lock the client out; no usable key is an
// error.
func (f *Fetcher) parse(ctx context.Context, location string, body []byte) (*josev3.JSONWebKeySet, error) {
	entries, err := splitSet(body)
	if err != nil {
		return nil, &fetchError{"the response is not a JSON Web Key Set", err}
	}
	set := &josev3.JSONWebKeySet{}
	kids := map[string]bool{}
	for i, raw := range entries {
		k, err := parseKey(raw)
		if err == nil && k.KeyID != "" && kids[k.KeyID] {
			err = errors.New("repeats a kid; the first key with it is used")
		}
		if err != nil {
			f.log.WarnContext(ctx, f.opts.Source+": key ignored", "jwks_uri", location, "key", keyName(i, raw), "reason", err.Error())
			continue
		}
		kids[k.KeyID] = true
		set.Keys = append(set.Keys, k)
	}
	switch {
	case len(set.Keys) == 0:
		return nil, &fetchError{"the key set contains no usable key", nil}
	case len(set.Keys) > MaxKeys:
		return nil, &fetchError{fmt.Sprintf("the key set has more than %d usable keys", MaxKeys), nil}
	}
	return set, nil
}
