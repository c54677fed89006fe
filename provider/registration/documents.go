package registration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-
// document, "the draft" below): a client names itself by the https URL of
// a JSON document with its metadata, and needs no registration. Documents
// fetches such a document (SSRF-safe, bounded, no redirects), validates it
// under the operator's policy and stores gatehouse's copy as a client
// (storage.Client.MetadataDocument) for as long as HTTP caching allows,
// within the operator's bounds. The copy is what the rest of gatehouse
// sees: the authorization endpoint asks for a fresh one (Resolve), the
// token endpoint uses the stored one and has a stale one fetched again in
// the background (RefreshLater), so a token request costs what a
// registered client's does.

// DocumentPolicy is the operator's policy for such clients
// (config.ClientIDMetadataDocuments).
type DocumentPolicy struct {
	// AllowedDomains, when set, admits documents on these hosts and their
	// subdomains only; DeniedDomains refuses those, checked first.
	AllowedDomains []string
	DeniedDomains  []string
	// TrustedDomains: hosts (and subdomains) whose clients the consent
	// page does not warn about for redirecting to localhost only.
	TrustedDomains []string
	// Scopes is the most such a client is allowed (its document's scope
	// narrows it); Resources the resource indicators it may ask for.
	Scopes    []string
	Resources []string
	// MinTTL and MaxTTL bound how long a copy is fresh; StaleFor how long
	// past that it stands in while the document cannot be fetched.
	MinTTL, MaxTTL, StaleFor time.Duration
	// MaxBytes bounds a document.
	MaxBytes int64
	// AllowHTTPLoopback admits http:// client_ids on loopback hosts
	// (development only).
	AllowHTTPLoopback bool
}

// DocumentStore is the storage the documents need: the clients.
type DocumentStore interface {
	ClientByID(ctx context.Context, id string) (*storage.Client, error)
	CreateClient(ctx context.Context, c *storage.Client) error
	UpdateClient(ctx context.Context, c *storage.Client) error
}

// DocumentOptions configure NewDocuments. Store, HTTPClient and Policy are
// required. HTTPClient must be an outbound client (provider/outbound) that
// follows no redirect (the draft, §"Client Information Discovery": MUST
// NOT follow them) and bounds the whole request in time.
type DocumentOptions struct {
	Store      DocumentStore
	HTTPClient *http.Client
	Policy     DocumentPolicy
	// JWKSURIDisabled refuses a document with a jwks_uri (no fetcher is
	// configured to read it).
	JWKSURIDisabled bool
	Audit           *audit.Recorder
	Now             func() time.Time
	Logger          *slog.Logger
}

// Documents resolves clients by their metadata documents. Safe for
// concurrent use.
type Documents struct {
	o       DocumentOptions
	fetches singleflight.Group
	// background bounds the refreshes RefreshLater runs at once: a burst
	// of token requests for many stale clients must not become a burst of
	// fetches.
	background chan struct{}
}

// maxBackgroundRefreshes is how many background refreshes run at once;
// more are dropped (the next token request asks again).
const maxBackgroundRefreshes = 4

// maxClientIDLen bounds a document URL (it is a client_id, stored and
// shown).
const maxClientIDLen = 1024

// NewDocuments returns the resolver o configures.
func NewDocuments(o DocumentOptions) (*Documents, error) {
	if o.Store == nil || o.HTTPClient == nil {
		return nil, errors.New("registration: documents need Store and HTTPClient")
	}
	p := &o.Policy
	if p.MinTTL <= 0 || p.MaxTTL < p.MinTTL || p.StaleFor < 0 || p.MaxBytes <= 0 {
		return nil, errors.New("registration: documents need MinTTL > 0, MaxTTL >= MinTTL, StaleFor >= 0 and MaxBytes > 0")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Documents{o: o, background: make(chan struct{}, maxBackgroundRefreshes)}, nil
}

var _ provider.ClientDocuments = (*Documents)(nil)

// Supported implements provider.ClientDocuments.
func (d *Documents) Supported() bool { return true }

// documentError is a document that cannot be used, with the reason shown
// to the person and the client.
func documentError(format string, args ...any) error {
	return &provider.ClientDocumentError{Reason: fmt.Sprintf(format, args...)}
}

// LooksLikeDocumentURL says whether a client_id is meant as a document
// URL: it starts with https:// (or http://). gatehouse's own client ids
// are UUIDs and never do (the draft, §"Supporting Both Pre-Registered and
// Unregistered Clients").
func LooksLikeDocumentURL(clientID string) bool {
	return strings.HasPrefix(clientID, "https://") || strings.HasPrefix(clientID, "http://")
}

// CheckDocumentURL holds a client_id to the draft's rules for a document
// URL (§"Client Identifier"): https, a path, no dot segments, no fragment,
// no user or password; a query is refused too (the draft says SHOULD NOT;
// a query makes one document many client ids). http is admitted on
// loopback hosts only when allowHTTPLoopback.
func CheckDocumentURL(clientID string, allowHTTPLoopback bool) (*url.URL, error) {
	if len(clientID) > maxClientIDLen {
		return nil, documentError("the client_id URL is longer than %d characters", maxClientIDLen)
	}
	u, err := url.Parse(clientID)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, documentError("the client_id is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTPLoopback || !provider.LoopbackHost(u.Hostname()) {
			return nil, documentError("the client_id URL must use https")
		}
	default:
		return nil, documentError("the client_id URL must use https")
	}
	if !strings.HasPrefix(clientID, u.Scheme+"://") || strings.ToLower(u.Host) != u.Host {
		// Compared as a string with the document's client_id: only the
		// canonical form can ever match.
		return nil, documentError("write the client_id URL's scheme and host in lower case")
	}
	if u.User != nil {
		return nil, documentError("the client_id URL must not carry a user name or password")
	}
	if u.Fragment != "" || strings.Contains(clientID, "#") {
		return nil, documentError("the client_id URL must not have a fragment")
	}
	if u.RawQuery != "" || strings.Contains(clientID, "?") {
		return nil, documentError("the client_id URL must not have a query")
	}
	if u.Path == "" || u.Path == "/" {
		return nil, documentError("the client_id URL must have a path")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return nil, documentError("the client_id URL must not have . or .. path segments")
		}
	}
	if !provider.CanonicalPort(u.Host) {
		return nil, documentError("the client_id URL's port must be 1-65535 without leading zeros")
	}
	return u, nil
}

// domainIn says whether host is one of domains or a subdomain of one.
func domainIn(host string, domains []string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range domains {
		d = strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "."), "*.")
		if d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return true
		}
	}
	return false
}

// Admitted applies the domain policy to a document URL's host.
func (p DocumentPolicy) Admitted(host string) error {
	if domainIn(host, p.DeniedDomains) {
		return documentError("clients from %s are not admitted here", host)
	}
	if len(p.AllowedDomains) > 0 && !domainIn(host, p.AllowedDomains) {
		return documentError("clients from %s are not admitted here", host)
	}
	return nil
}

// Trusted says whether the consent page may skip its localhost warning
// for a client from host.
func (p DocumentPolicy) Trusted(host string) bool { return domainIn(host, p.TrustedDomains) }

// Policy is the policy the documents are held to.
func (d *Documents) Policy() DocumentPolicy { return d.o.Policy }

// Resolve implements provider.ClientDocuments.
func (d *Documents) Resolve(ctx context.Context, clientID string) error {
	if !LooksLikeDocumentURL(clientID) {
		return nil
	}
	u, err := CheckDocumentURL(clientID, d.o.Policy.AllowHTTPLoopback)
	if err != nil {
		return err
	}
	if err := d.o.Policy.Admitted(u.Hostname()); err != nil {
		return err
	}
	stored, err := d.o.Store.ClientByID(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		stored = nil
	case err != nil:
		return err
	case !stored.MetadataDocument:
		// An operator registered this URL as a client of their own (the
		// draft, §"Pre-Registering Client ID Metadata Document URLs"):
		// that registration is the client, never a fetched document.
		return nil
	case stored.DocumentGoneAt.IsZero() && d.o.Now().Before(stored.DocumentFreshUntil):
		return nil
	}
	// One fetch serves every request for the same document at once; it
	// runs to its own end even if the request that started it goes away.
	_, err, _ = d.fetches.Do(clientID, func() (any, error) {
		return nil, d.refresh(context.WithoutCancel(ctx), clientID, stored)
	})
	return err
}

// RefreshLater implements provider.ClientDocuments.
func (d *Documents) RefreshLater(clientID string) {
	select {
	case d.background <- struct{}{}:
	default:
		return // enough under way; a later request asks again
	}
	go func() {
		defer func() { <-d.background }()
		ctx := context.Background()
		if err := d.Resolve(ctx, clientID); err != nil {
			d.o.Logger.Info("a client metadata document could not be refreshed", "client_id", clientID, "err", err)
		}
	}()
}

// refresh fetches the document and stores the client it describes; on a
// fetch failure a stored copy within its stale period stands in.
func (d *Documents) refresh(ctx context.Context, clientID string, stored *storage.Client) error {
	now := d.o.Now().UTC()
	doc, ttl, err := d.fetch(ctx, clientID)
	if err != nil {
		var gone *goneError
		switch {
		case errors.As(err, &gone):
			// A document that disappeared stops new authorizations and
			// refreshes; tokens issued before live their normal life.
			if stored != nil && stored.DocumentGoneAt.IsZero() {
				stored.DocumentGoneAt = now
				if uerr := d.o.Store.UpdateClient(ctx, stored); uerr != nil {
					return uerr
				}
				d.record(ctx, clientID, "gone")
			}
			return documentError("the document at %s is gone (HTTP %d)", clientID, gone.status)
		case errors.Is(err, errUnreachable) && stored != nil && stored.DocumentGoneAt.IsZero() &&
			now.Before(stored.DocumentFreshUntil.Add(d.o.Policy.StaleFor)):
			// Only while the server cannot answer (network, 5xx, 429): a
			// document it answers with but that is unusable (too large,
			// not JSON) is that document, not an outage.
			d.o.Logger.Warn("using a stale copy of a client metadata document that cannot be fetched",
				"client_id", clientID, "fresh_until", stored.DocumentFreshUntil, "err", err)
			return nil
		}
		d.o.Logger.Info("a client metadata document could not be fetched", "client_id", clientID, "err", err)
		return err
	}
	c, err := d.clientOf(clientID, doc, now)
	if err != nil {
		// An invalid document is never cached (the draft, §"Metadata
		// Caching"), and an earlier copy does not stand in for it.
		return err
	}
	c.DocumentFreshUntil = now.Add(ttl)
	if stored == nil {
		if err := d.o.Store.CreateClient(ctx, c); err == nil {
			d.record(ctx, clientID, "added")
			return nil
		} else if !errors.Is(err, storage.ErrConflict) {
			return err
		}
		// Another instance stored it meanwhile: replace its copy.
		if stored, err = d.o.Store.ClientByID(ctx, clientID); err != nil {
			return err
		}
		if !stored.MetadataDocument {
			return nil
		}
	}
	c.CreatedAt = stored.CreatedAt
	if err := d.o.Store.UpdateClient(ctx, c); err != nil {
		return err
	}
	if !stored.DocumentGoneAt.IsZero() || documentChanged(stored, c) {
		d.record(ctx, clientID, "changed")
	}
	return nil
}

// documentChanged says whether what the client may do changed.
func documentChanged(a, b *storage.Client) bool {
	return a.Name != b.Name || !slices.Equal(a.RedirectURIs, b.RedirectURIs) || !slices.Equal(a.Scopes, b.Scopes) ||
		!slices.Equal(a.GrantTypes, b.GrantTypes) || a.TokenEndpointAuthMethod != b.TokenEndpointAuthMethod ||
		a.JWKS != b.JWKS || a.JWKSURI != b.JWKSURI
}

func (d *Documents) record(ctx context.Context, clientID, what string) {
	d.o.Audit.Record(ctx, audit.Event{
		Type: audit.ClientDocumentFetched, Actor: audit.ActorSystem, Subject: audit.ClientSubject(clientID), ClientID: clientID,
		Details: map[string]string{"outcome": what},
	})
}

// errUnreachable marks a fetch that failed for want of an answer: the
// network, a 5xx, a 429.
var errUnreachable = errors.New("unreachable")

// unreachable is a document error that is also errUnreachable.
type unreachable struct{ *provider.ClientDocumentError }

func (u unreachable) Unwrap() []error { return []error{u.ClientDocumentError, errUnreachable} }

func unreachableError(format string, args ...any) error {
	return unreachable{&provider.ClientDocumentError{Reason: fmt.Sprintf(format, args...)}}
}

// goneError: the document answered 404 or 410.
type goneError struct{ status int }

func (e *goneError) Error() string { return fmt.Sprintf("the document is gone (HTTP %d)", e.status) }

// fetch GETs the document and returns its body and how long it is fresh.
// Only a 200 with a JSON body within the size bound is a document (the
// draft, §"Client Information Discovery", §"Maximum Response Size").
func (d *Documents) fetch(ctx context.Context, clientID string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, documentError("the client_id URL cannot be fetched")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrRedirectRefused) {
			return nil, 0, documentError("the document's URL redirects, and redirects are not followed")
		}
		return nil, 0, unreachableError("the document could not be fetched")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, 0, &goneError{status: resp.StatusCode}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, 0, unreachableError("fetching the document answered HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, documentError("fetching the document answered HTTP %d, not 200", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil, 0, documentError("the document is not served as JSON (Content-Type %q)", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, d.o.Policy.MaxBytes+1))
	if err != nil {
		return nil, 0, documentError("the document could not be read")
	}
	if int64(len(body)) > d.o.Policy.MaxBytes {
		return nil, 0, documentError("the document is larger than %d bytes", d.o.Policy.MaxBytes)
	}
	return body, d.freshFor(resp.Header), nil
}

// freshFor is how long a response is fresh by its HTTP caching headers
// (RFC 9111 §4.2.1: max-age, else Expires minus Date; Age subtracted),
// within the operator's bounds (the draft, §"Metadata Caching", lets the
// server set them). no-store and no-cache get the lower bound: the copy
// must be kept to serve the token endpoint, and is fetched again at the
// first authorization after it.
func (d *Documents) freshFor(h http.Header) time.Duration {
	ttl := time.Duration(-1)
	for _, directive := range strings.Split(h.Get("Cache-Control"), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return d.o.Policy.MinTTL
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
				ttl = time.Duration(min(n, int64(d.o.Policy.MaxTTL/time.Second)+1)) * time.Second
			}
		}
	}
	if ttl < 0 {
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			date, err := http.ParseTime(h.Get("Date"))
			if err != nil {
				date = d.o.Now()
			}
			ttl = exp.Sub(date)
		}
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 && ttl > 0 {
		ttl -= time.Duration(min(age, int64(ttl/time.Second))) * time.Second
	}
	return min(max(ttl, d.o.Policy.MinTTL), d.o.Policy.MaxTTL)
}

// documentMembers are the members a document may have: the client
// metadata of the IANA "OAuth Dynamic Client Registration Metadata"
// registry the draft points to (§"Client Metadata Document"), less those
// it forbids. Members gatehouse does not use are accepted and ignored;
// any other member is refused, so that a typo or a member meant for
// another server does not pass silently.
var documentMembers = []string{
	"client_id", "client_name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
	"scope", "token_endpoint_auth_method", "token_endpoint_auth_signing_alg", "jwks", "jwks_uri",
	"logo_uri", "client_uri", "policy_uri", "tos_uri", "contacts", "software_id", "software_version",
	"application_type", "id_token_signed_response_alg", "id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
	"userinfo_signed_response_alg", "userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
	"request_object_signing_alg", "request_object_encryption_alg", "request_object_encryption_enc",
	"default_max_age", "require_auth_time", "default_acr_values", "initiate_login_uri", "request_uris",
	"subject_type", "sector_identifier_uri", "require_pushed_authorization_requests",
	"dpop_bound_access_tokens", "tls_client_certificate_bound_access_tokens", "authorization_details_types",
	"frontchannel_logout_uri", "frontchannel_logout_session_required",
	"backchannel_logout_uri", "backchannel_logout_session_required",
	"authorization_signed_response_alg", "authorization_encrypted_response_alg", "authorization_encrypted_response_enc",
}

// forbiddenMembers may not appear: a shared secret cannot be agreed on
// through a public document (the draft, §"Client Metadata Document"), and
// the others are the server's to issue, never the client's to claim.
var forbiddenMembers = []string{
	"client_secret", "client_secret_expires_at", "client_id_issued_at",
	"registration_access_token", "registration_client_uri", "software_statement",
}

// grantsOfDocuments are the grant types such a client may have: it has
// no secret, so no client_credentials, and it signs people in.
var grantsOfDocuments = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}

// clientOf validates a document fetched from clientID and returns the
// client it describes under the policy.
func (d *Documents) clientOf(clientID string, body []byte, now time.Time) (*storage.Client, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&members); err != nil || members == nil || dec.More() {
		return nil, documentError("the document is not a JSON object")
	}
	var problems []string
	for name := range members {
		base, _, _ := strings.Cut(name, "#") // RFC 7591 §2.2: client_name#ja
		switch {
		case slices.Contains(forbiddenMembers, base):
			problems = append(problems, fmt.Sprintf("%s is not allowed in a metadata document", name))
		case !slices.Contains(documentMembers, base):
			problems = append(problems, fmt.Sprintf("%s is not a client metadata member", name))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, documentError("%s", strings.Join(problems, "; "))
	}
	req, err := DecodeRequest(body)
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			return nil, documentError("%s", re.Description)
		}
		return nil, documentError("the document is not valid client metadata")
	}
	// §"Client Metadata Document": client_id MUST equal the URL, by
	// simple string comparison (RFC 3986 §6.2.1).
	if req.ClientID != clientID {
		return nil, documentError("the document's client_id %q is not its URL", clip(req.ClientID))
	}
	if len(req.RedirectURIs) == 0 {
		return nil, documentError("the document has no redirect_uris")
	}
	switch req.TokenEndpointAuthMethod {
	case "":
		// No secret can exist, so the default is a public client (RFC
		// 7591's client_secret_basic cannot apply).
		req.TokenEndpointAuthMethod = provider.AuthMethodNone
	case provider.AuthMethodNone, provider.AuthMethodPrivateKeyJWT:
	default:
		return nil, documentError("token_endpoint_auth_method %q needs a shared secret; use none or private_key_jwt", clip(req.TokenEndpointAuthMethod))
	}
	for _, g := range req.GrantTypes {
		if !slices.Contains(grantsOfDocuments, g) {
			return nil, documentError("grant type %q is not available to such a client (authorization_code and refresh_token are)", clip(g))
		}
	}
	for _, rt := range req.ResponseTypes {
		if rt != provider.ResponseTypeCode {
			return nil, documentError("response type %q is not available (code is)", clip(rt))
		}
	}
	spec := req.spec("its metadata document")
	// The policy bounds the scopes; the document narrows them.
	allowed := d.o.Policy.Scopes
	if len(spec.Scopes) > 0 {
		var narrowed []string
		for _, s := range spec.Scopes {
			if slices.Contains(allowed, s) {
				narrowed = append(narrowed, s)
			}
		}
		allowed = narrowed
	}
	if !slices.Contains(spec.GrantTypes, provider.GrantRefreshToken) {
		allowed = slices.DeleteFunc(slices.Clone(allowed), func(s string) bool { return s == provider.ScopeOfflineAccess })
	}
	spec.Scopes = allowed
	spec.Audience = slices.Clone(d.o.Policy.Resources)
	// Logout channels would make gatehouse call URLs the document names
	// on every sign-out; such clients get none.
	spec.BackchannelLogoutURI, spec.FrontchannelLogoutURI = "", ""
	spec.BackchannelLogoutSessionRequired, spec.FrontchannelLogoutSessionRequired = false, false
	spec.AllowedOrigins = nil
	c, _, err := admin.BuildClientWith(spec, nil, now, admin.CheckOptions{SelfRegistered: true, JWKSURIDisabled: d.o.JWKSURIDisabled})
	if err != nil {
		var ve *admin.ValidationError
		if errors.As(err, &ve) {
			return nil, documentError("%s", Describe(ve))
		}
		return nil, err
	}
	if c.Name == "" {
		c.Name = hostOf(clientID)
	}
	c.ID = clientID
	c.MetadataDocument = true
	return c, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Hostname()
	}
	return ""
}

// clip shortens a value quoted back in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
