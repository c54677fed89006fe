// Package backchannel delivers OpenID Connect Back-Channel Logout 1.0
// notifications: when a login session ends, each client that got tokens in
// it and registered a backchannel_logout_uri is sent a signed logout token,
// server to server. The notifications wait in a durable queue in the
// database (storage.LogoutStore), so an app that is down gets its token
// when it is back, and any instance delivers them: each claims a few at a
// time under a lease, so two instances never send the same one at once.
// Every outcome is audited.
package backchannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// EventBackchannelLogout is the member of a logout token's events claim
// (Back-Channel Logout §2.4).
const EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"

// TokenType is the typ header of a logout token (§2.4: explicit typing, so
// that no other JWT of the issuer passes for one).
const TokenType = "logout+jwt"

// Defaults for Options.
const (
	DefaultInterval    = 5 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultLease       = time.Minute
	DefaultMaxAttempts = 12
	DefaultMaxAge      = 24 * time.Hour
	DefaultBatch       = 16
	// DefaultTokenLifespan keeps the token short-lived (§2.4: the RP
	// rejects tokens too far from now); each attempt signs a new one.
	DefaultTokenLifespan = 2 * time.Minute
	// firstRetry doubles after each failure, up to maxRetry.
	firstRetry = 30 * time.Second
	maxRetry   = time.Hour
	// maxResponseBytes is how much of a client's answer is read: only its
	// status matters.
	maxResponseBytes = 4 << 10
)

// Store is the storage delivery needs.
type Store interface {
	ClientByID(ctx context.Context, id string) (*storage.Client, error)
	ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*storage.LogoutDelivery, error)
	RescheduleLogoutDelivery(ctx context.Context, id string, next time.Time, lastError string) error
	DeleteLogoutDelivery(ctx context.Context, id string) error
}

// Signer signs JWTs with the issuer's keys (keys.Manager's signer), and
// names the current key of an algorithm.
type Signer interface {
	Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error)
}

// KeyNamer names the current signing key of an algorithm (keys.Manager).
type KeyNamer interface {
	CurrentKID(alg string) (string, error)
}

// Options configure a Deliverer. Store, Signer, Keys and Issuer are
// required.
type Options struct {
	Store  Store
	Signer Signer
	Keys   KeyNamer
	Issuer string
	// HTTPClient posts the tokens; nil builds an outbound client (no
	// private addresses unless AllowPrivateNetworks, no redirects, Timeout).
	HTTPClient           *http.Client
	AllowPrivateNetworks bool
	// Timeout bounds one delivery (DefaultTimeout).
	Timeout time.Duration
	// Interval is how often the queue is looked at without a Wake
	// (DefaultInterval).
	Interval time.Duration
	// Lease is how long a claimed delivery is this instance's
	// (DefaultLease); it must exceed Timeout.
	Lease time.Duration
	// MaxAttempts and MaxAge bound the retries (DefaultMaxAttempts,
	// DefaultMaxAge): after either, the notification is abandoned.
	MaxAttempts int
	MaxAge      time.Duration
	// Batch is how many deliveries are claimed and sent at once
	// (DefaultBatch).
	Batch int
	// TokenLifespan is the logout token's exp - iat (DefaultTokenLifespan).
	TokenLifespan time.Duration
	// Audit receives the outcomes; nil records nothing.
	Audit  *audit.Recorder
	Now    func() time.Time
	Logger *slog.Logger
}

// Deliverer sends the queued notifications. Safe for concurrent use.
type Deliverer struct {
	o    Options
	wake chan struct{}
}

// New returns a deliverer as o configures it.
func New(o Options) (*Deliverer, error) {
	if o.Store == nil || o.Signer == nil || o.Keys == nil || o.Issuer == "" {
		return nil, errors.New("backchannel: Store, Signer, Keys and Issuer are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease <= o.Timeout {
		o.Lease = 2 * o.Timeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.TokenLifespan <= 0 {
		o.TokenLifespan = DefaultTokenLifespan
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		// A client's URI is the registrant's choice: the outbound policy
		// keeps it out of the internal network, and a redirect is not
		// followed (a logout token is POSTed to the registered URI only).
		o.HTTPClient = outbound.NewClient(outbound.Options{
			AllowPrivateNetworks: o.AllowPrivateNetworks, Timeout: o.Timeout, MaxRedirects: -1,
		})
	}
	return &Deliverer{o: o, wake: make(chan struct{}, 1)}, nil
}

// Wake asks Run to look at the queue now (a session just ended); it never
// blocks.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: at every Interval, and whenever woken.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
		for {
			n, err := d.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.o.Logger.WarnContext(ctx, "backchannel logout: reading the queue failed; will retry", "err", err)
				}
				break
			}
			if n < d.o.Batch {
				break
			}
		}
	}
}

// RunOnce claims the deliveries due now (up to a batch), sends them at
// once and records each outcome; it returns how many it claimed.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	ds, err := d.o.Store.ClaimLogoutDeliveries(ctx, d.o.Now(), d.o.Lease, d.o.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, del := range ds {
		wg.Go(func() { d.deliver(ctx, del) })
	}
	wg.Wait()
	return len(ds), nil
}

// outcome of one attempt.
type outcome struct {
	// status is the HTTP status (0 when none came).
	status int
	err    error
	// permanent: trying again cannot help.
	permanent bool
	reason    string
}

// deliver makes one attempt and records what came of it.
func (d *Deliverer) deliver(ctx context.Context, del *storage.LogoutDelivery) {
	now := d.o.Now()
	var out outcome
	client, err := d.o.Store.ClientByID(ctx, del.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || err == nil && client.BackchannelLogoutURI == "":
		out = outcome{err: errors.New("the client no longer has a backchannel_logout_uri"), permanent: true, reason: "client_gone"}
	case err != nil:
		out = outcome{err: err}
	case now.Sub(del.CreatedAt) > d.o.MaxAge:
		out = outcome{err: errors.New("the notification is older than the retry period"), permanent: true, reason: "too_old"}
	default:
		out = d.post(ctx, client, del, now)
	}
	d.record(ctx, del, out, now)
}

// post signs a logout token and POSTs it to the client (§2.5).
func (d *Deliverer) post(ctx context.Context, client *storage.Client, del *storage.LogoutDelivery, now time.Time) outcome {
	token, err := d.LogoutToken(ctx, client, del.Subject, del.SID, now)
	if err != nil {
		return outcome{err: fmt.Errorf("sign the logout token: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, client.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return outcome{err: fmt.Errorf("build the request: %w", err), permanent: true, reason: "refused"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		if _, blocked := outbound.IsBlocked(err); blocked {
			return outcome{err: err, permanent: true, reason: "refused"}
		}
		return outcome{err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		// §2.8: 200 OK; some frameworks answer 204 No Content.
		return outcome{status: s}
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return outcome{status: s, err: fmt.Errorf("the client answered %s", resp.Status)}
	default:
		// §2.8: 400 means the RP rejected the token (or could not log
		// out); the same claims signed again would fare no better.
		return outcome{status: s, err: fmt.Errorf("the client answered %s", resp.Status), permanent: true, reason: "refused"}
	}
}

// record deletes a delivered or abandoned notification, or schedules the
// next attempt, and audits the outcome.
func (d *Deliverer) record(ctx context.Context, del *storage.LogoutDelivery, out outcome, now time.Time) {
	ev := audit.Event{
		Actor: audit.ActorSystem, Subject: audit.UserSubject(del.Subject), ClientID: del.ClientID,
		Details: map[string]string{"attempts": strconv.Itoa(del.Attempts), "sid": del.SID},
	}
	if out.status != 0 {
		ev.Details["status"] = strconv.Itoa(out.status)
	}
	if out.err == nil {
		ev.Type = audit.LogoutBackchannelDelivered
		d.finish(ctx, del)
		d.o.Audit.Record(ctx, ev)
		return
	}
	ev.Details["error"] = out.err.Error()
	next := now.Add(retryDelay(del.Attempts))
	switch {
	case out.permanent:
	case del.Attempts >= d.o.MaxAttempts:
		out.reason = "too_many_attempts"
	case next.Sub(del.CreatedAt) > d.o.MaxAge:
		out.reason = "too_old"
	}
	if out.reason != "" {
		ev.Type = audit.LogoutBackchannelAbandoned
		ev.Details["reason"] = out.reason
		d.finish(ctx, del)
		d.o.Audit.Record(ctx, ev)
		return
	}
	ev.Type = audit.LogoutBackchannelFailed
	ev.Details["next_attempt_at"] = next.UTC().Format(time.RFC3339)
	if err := d.o.Store.RescheduleLogoutDelivery(ctx, del.ID, next, out.err.Error()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		// The lease runs out and the delivery is claimed again.
		d.o.Logger.WarnContext(ctx, "backchannel logout: rescheduling failed", "delivery", del.ID, "err", err)
	}
	d.o.Audit.Record(ctx, ev)
}

func (d *Deliverer) finish(ctx context.Context, del *storage.LogoutDelivery) {
	if err := d.o.Store.DeleteLogoutDelivery(ctx, del.ID); err != nil {
		// Its lease runs out and it is sent again: a logout is idempotent.
		d.o.Logger.WarnContext(ctx, "backchannel logout: removing a finished delivery failed", "delivery", del.ID, "err", err)
	}
}

// retryDelay is the wait after the attempts-th failed attempt: 30 s,
// doubling, at most an hour.
func retryDelay(attempts int) time.Duration {
	delay := firstRetry
	for i := 1; i < attempts && delay < maxRetry; i++ {
		delay *= 2
	}
	return min(delay, maxRetry)
}

// LogoutToken signs a logout token for client about the user sub and the
// login session sid ("" for none) at now (Back-Channel Logout §2.4): iss,
// aud, iat, exp, jti, events, sub and sid — never a nonce — with the key
// of the algorithm the client's ID tokens use, typ logout+jwt.
func (d *Deliverer) LogoutToken(ctx context.Context, client *storage.Client, sub, sid string, now time.Time) (string, error) {
	kid, err := d.o.Keys.CurrentKID(client.IDTokenAlg())
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"iss":    d.o.Issuer,
		"aud":    []string{client.ID},
		"iat":    now.Unix(),
		"exp":    now.Add(d.o.TokenLifespan).Unix(),
		"jti":    uuid.NewString(),
		"events": map[string]any{EventBackchannelLogout: map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	token, _, err := d.o.Signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]any{"typ": TokenType, "kid": kid}})
	return token, err
}

// NewDeliveries are the notifications for the clients of a login session
// that just ended: one for each client with a backchannel_logout_uri, due
// at once.
func NewDeliveries(clients []*storage.Client, sub, sid string, now time.Time) []*storage.LogoutDelivery {
	var out []*storage.LogoutDelivery
	for _, c := range clients {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		out = append(out, &storage.LogoutDelivery{
			ID: uuid.NewString(), ClientID: c.ID, Subject: sub, SID: sid, CreatedAt: now, NextAttemptAt: now,
		})
	}
	return out
}
