package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// The refresh retry window. Rotating a refresh token stores the response
// (sealed) under the spent token's signature for the client's window, in
// the same transaction as the rotation. The same token presented again
// within the window — a client that lost the response, or parallel
// requests of one client racing themselves — gets that response back
// instead of an error, so no client is logged out by a dropped response.
// After the window, reuse revokes the grant (fosite's reuse detection).

// MaxRefreshRetryWindow bounds a client's own retry window: for that long
// a spent refresh token is answered, not treated as stolen.
const MaxRefreshRetryWindow = time.Minute

// purposeRefreshSuccessor seals stored refresh responses: they hold live
// tokens.
const purposeRefreshSuccessor = "refresh-successor"

// replayAttempts and replayPause bound how long a request that lost a
// rotation race waits for the winner's response to become readable. The
// winner's transaction has normally committed by then (the loser's
// conditional update waited for it), so the first read finds it; the
// retries cover a replica-free but busy database.
const (
	replayAttempts = 5
	replayPause    = 50 * time.Millisecond
)

// refreshWindow is the retry window of client c: its own, or the server's.
func (p *Provider) refreshWindow(c fosite.Client) time.Duration {
	return retryWindowOf(c, p.opts.RefreshRetryWindow)
}

// retryWindowOf is the retry window of client c: its own, or server.
func retryWindowOf(c fosite.Client, server time.Duration) time.Duration {
	if sc, ok := StorageClient(c); ok && sc.RefreshRetryWindow != nil {
		return *sc.RefreshRetryWindow
	}
	return server
}

// keepRefreshResponse stores resp for replays of ar's refresh token. It
// runs inside the rotation's transaction: a response is kept exactly when
// the rotation commits.
func (p *Provider) keepRefreshResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	window := p.refreshWindow(ar.GetClient())
	token := ar.GetRequestForm().Get("refresh_token")
	if window <= 0 || token == "" {
		return nil
	}
	// A copy: ToMap returns the response's own map, which is sent.
	kept := maps.Clone(resp.ToMap())
	if s, ok := ar.GetSession().(*Session); ok && s.JKT != "" {
		// The key the tokens are bound to: a replay is answered only to a
		// proof of it (replayRefresh).
		kept[keptJKTMember] = s.JKT
	}
	body, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("provider: encode refresh response: %w", err)
	}
	sealed, err := p.opts.Keyring.Seal(purposeRefreshSuccessor, body)
	if err != nil {
		return fmt.Errorf("provider: seal refresh response: %w", err)
	}
	now := p.now().UTC()
	return p.store.CreateRefreshSuccessor(ctx, &storage.RefreshSuccessor{
		Signature: p.core.RefreshTokenSignature(ctx, token),
		ClientID:  ar.GetClient().GetID(),
		Sealed:    sealed,
		CreatedAt: now,
		ExpiresAt: now.Add(window),
	})
}

// keptJKTMember holds, in a kept refresh response, the DPoP key its
// tokens are bound to; it is never sent.
const keptJKTMember = "gatehouse_cnf_jkt"

// replayRefresh answers a refresh request that failed with err because its
// token had just been rotated (within the retry window, or by a concurrent
// request of the same client): it returns the response of that rotation.
// ok is false when err is anything else, or when no response was kept (the
// window is over, or is 0 for the client); the caller then reports err.
// Tokens bound to a DPoP key are given again only to a request whose proof
// (already verified: proof) is of that key (RFC 9449 §5): without the key,
// a copy of the refresh token gets nothing.
func (p *Provider) replayRefresh(ctx context.Context, ar fosite.AccessRequester, proof *dpop.Proof, err error) (resp fosite.AccessResponder, ok bool) {
	if ar == nil || ar.GetClient() == nil || !ar.GetGrantTypes().ExactOne("refresh_token") || !isRefreshRace(err) {
		return nil, false
	}
	token := ar.GetRequestForm().Get("refresh_token")
	if token == "" {
		return nil, false
	}
	sig := p.core.RefreshTokenSignature(ctx, token)
	var succ *storage.RefreshSuccessor
	for attempt := 1; ; attempt++ {
		s, err := p.store.RefreshSuccessor(ctx, sig)
		if err == nil {
			succ = s
			break
		}
		if !errors.Is(err, storage.ErrNotFound) || attempt == replayAttempts {
			if !errors.Is(err, storage.ErrNotFound) {
				p.log.WarnContext(ctx, "reading a kept refresh response failed", "err", err)
			}
			return nil, false
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(replayPause):
		}
	}
	// The token authenticated its client already (fosite checks it
	// belongs to the client that sends it); the kept response must be that
	// client's too.
	if succ.ClientID != ar.GetClient().GetID() {
		return nil, false
	}
	body, err := p.opts.Keyring.Open(purposeRefreshSuccessor, succ.Sealed)
	if err != nil {
		p.log.WarnContext(ctx, "a kept refresh response cannot be opened", "err", err)
		return nil, false
	}
	r, jkt, err := decodeAccessResponse(body, p.now().Sub(succ.CreatedAt))
	if err != nil {
		p.log.WarnContext(ctx, "a kept refresh response cannot be decoded", "err", err)
		return nil, false
	}
	if jkt != "" && (proof == nil || proof.JKT != jkt) {
		return nil, false
	}
	p.auditIssued(ctx, ar, true)
	return r, true
}

// decodeAccessResponse rebuilds a token response from its JSON, with
// expires_in reduced by the time since it was first sent, and returns the
// DPoP key its tokens are bound to ("" for none).
func decodeAccessResponse(body []byte, age time.Duration) (_ fosite.AccessResponder, jkt string, _ error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, "", err
	}
	r := fosite.NewAccessResponse()
	for k, v := range m {
		switch k {
		case "access_token":
			s, _ := v.(string)
			r.SetAccessToken(s)
		case "token_type":
			s, _ := v.(string)
			r.SetTokenType(s)
		case keptJKTMember:
			jkt, _ = v.(string)
		case "expires_in":
			num, _ := v.(json.Number)
			n, err := num.Int64()
			if err != nil {
				return nil, "", fmt.Errorf("expires_in: %w", err)
			}
			r.SetExtra(k, max(n-int64(age/time.Second), 0))
		default:
			r.SetExtra(k, v)
		}
	}
	if r.GetAccessToken() == "" {
		return nil, "", errors.New("no access_token")
	}
	return r, jkt, nil
}

// isRefreshRace reports whether a refresh failed because its token had
// just been rotated: presented within the retry window (ErrRefreshRace),
// or rotated by a concurrent request while this one was under way (the
// conditional rotation found it spent). Reuse after the window is not a
// race: fosite reports it as an inactive token and revokes the grant.
func isRefreshRace(err error) bool {
	if errors.Is(err, storage.ErrRefreshRace) {
		return true
	}
	return isRetryOrServerError(err) &&
		(errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fosite.ErrInactiveToken))
}
