package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// prepareAccessRequest does what fosite leaves to the application between
// NewAccessRequest and NewAccessResponse:
//
//   - client_credentials: grant the requested scopes and audience (fosite
//     has checked them against the client) and make the client the subject;
//   - every grant: bind the access token to the one resource it is for
//     (RFC 8707; resources.go);
//   - refresh_token: reload the user, refuse a deleted or disabled account,
//     and refresh the claims the new ID token carries.
func (p *Provider) prepareAccessRequest(ctx context.Context, ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		t, err := p.clientCredentialsTarget(ctx, ar)
		if err != nil {
			return err
		}
		p.bindTokenResource(sess, t)
		sess.Subject = ar.GetClient().GetID()
		sess.ClientID = ar.GetClient().GetID()
		if kc, ok := ar.GetClient().(*keyClient); ok {
			// After the resource's lifetime: the key's expiry caps it.
			if err := p.prepareAPIKeyToken(ctx, ar, sess, kc); err != nil {
				return err
			}
		}
		if t != nil {
			return checkTargetScopes([]target{*t}, ar.GetGrantedScopes())
		}
	case ar.GetGrantTypes().ExactOne("refresh_token"), ar.GetGrantTypes().ExactOne("authorization_code"):
		// The access token is for one resource of the grant (the one
		// named here, or its only one); the refresh token keeps them all.
		t, err := p.grantTarget(ctx, ar, sess)
		if err != nil {
			return err
		}
		p.bindTokenResource(sess, t)
		if t != nil {
			if err := checkTargetScopes([]target{*t}, tokenScopes(ar)); err != nil {
				return err
			}
		}
		if !ar.GetGrantTypes().ExactOne("refresh_token") {
			return nil
		}
		if sess.Subject == "" || sess.Claims == nil {
			return nil
		}
		u, err := p.store.UserByID(ctx, sess.Subject)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
			return fosite.ErrInvalidGrant.WithHint("The user account is no longer active.")
		} else if err != nil {
			return err
		}
		sess.Claims.Extra = ReleasedClaims(u, ar.GetGrantedScopes(), sess.IDTokenClaimNames)
	}
	return nil
}

// Token is the token endpoint (RFC 6749 §3.2): it authenticates the client,
// issues the tokens of the request's grant and writes the answer. A refresh
// token that was just rotated gets the rotation's response again (the
// retry window), not an error.
//
// A DPoP proof (RFC 9449) is checked first, so that a bad one spends
// nothing (no code, no device authorization, no assertion); the access
// token is then bound to its key (bindDPoP) and the response says
// token_type DPoP.
func (p *Provider) Token(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if err := requireFormBody(r); err != nil {
		writeError(w, err)
		return
	}
	var ar fosite.AccessRequester
	proof, err := p.requestProof(ctx, r, PathToken)
	if err == nil {
		ar, err = p.oauth2.NewAccessRequest(ctx, r, NewSession())
	}
	if err == nil {
		err = p.prepareAccessRequest(ctx, ar)
	}
	if err == nil {
		err = bindDPoP(ar, proof)
	}
	var resp fosite.AccessResponder
	if err == nil {
		resp, err = p.newAccessResponse(ctx, ar)
	}
	if err != nil {
		replay, ok := p.replayRefresh(ctx, ar, proof, err)
		if !ok {
			err = p.tokenRequestError(ctx, r, ar, err)
			challengeClient(w, err)
			p.writeDPoPNonce(w, err)
			p.oauth2.WriteAccessError(ctx, w, ar, err)
			return
		}
		resp = replay
	}
	p.writeDPoPNonce(w, nil)
	p.oauth2.WriteAccessResponse(ctx, w, ar, resp)
}

// newAccessResponse issues the tokens. For the authorization code and
// refresh grants everything fosite writes (code invalidation or refresh
// rotation, the new tokens, the OpenID Connect session cleanup) happens in
// one transaction, so a failure leaves nothing half-written; a refresh
// also keeps its response for the retry window in that transaction. A
// grant that writes one row (singleInsert) needs no transaction: BEGIN and
// COMMIT would triple its round trips. Either way the tokens are committed
// before the caller sends them.
func (p *Provider) newAccessResponse(ctx context.Context, ar fosite.AccessRequester) (fosite.AccessResponder, error) {
	if singleInsert(ar) {
		resp, err := p.oauth2.NewAccessResponse(ctx, ar)
		if err == nil {
			setTokenType(ar, resp)
			p.metrics.issued(ar)
			p.auditIssued(ctx, ar, false)
		}
		return resp, err
	}
	var resp fosite.AccessResponder
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if resp, err = p.oauth2.NewAccessResponse(ctx, ar); err != nil {
			return err
		}
		setTokenType(ar, resp)
		if ar.GetGrantTypes().ExactOne("refresh_token") {
			return p.keepRefreshResponse(ctx, ar, resp)
		}
		return nil
	})
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		p.revokeCodeGrant(ctx, ar)
	}
	if err == nil {
		p.metrics.issued(ar)
		p.auditIssued(ctx, ar, false)
	}
	return resp, err
}

// setTokenType says what resp's access token is: DPoP when it is bound to
// a key (RFC 9449 §5), else fosite's "bearer".
func setTokenType(ar fosite.AccessRequester, resp fosite.AccessResponder) {
	if dpopBound(ar) {
		resp.SetTokenType(dpop.TokenType)
	}
}

// singleInsert reports whether issuing ar's tokens writes one row: the
// access token of client_credentials, or of a token exchange whose
// subject is an access token (an ID token's jti is spent in the same
// transaction as the token is stored, tokenexchange.go).
func singleInsert(ar fosite.AccessRequester) bool {
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		return true
	case ar.GetGrantTypes().ExactOne(GrantTokenExchange):
		return ar.GetRequestForm().Get("subject_token_type") == TokenTypeAccessToken
	}
	return false
}

// revokeCodeGrant revokes the grant (every access and refresh token of its
// request id) of an authorization code whose exchange lost the race to a
// concurrent exchange of the same code: RFC 6749 §4.1.2, a code used more
// than once revokes the tokens issued from it.
//
// fosite revokes by itself only when it reads the code as spent before the
// exchange starts. A loser that read it still unused learns otherwise
// inside the exchange's transaction (the code is spent, or its conditional
// UPDATE matches no row), and whatever it revoked there would be rolled
// back. So it revokes here, after the rollback, when the winner's tokens
// are committed: a code reads as spent only once the transaction that spent
// it and stored the tokens has committed; on PostgreSQL the loser's UPDATE
// waits on the winner's row lock until then, and SQLite runs write
// transactions one at a time.
func (p *Provider) revokeCodeGrant(ctx context.Context, ar fosite.AccessRequester) {
	grantID := ar.GetID()
	if grantID == "" {
		return
	}
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		if err := p.store.RevokeRefreshToken(ctx, grantID); err != nil {
			return err
		}
		return p.store.RevokeAccessToken(ctx, grantID)
	})
	if err != nil {
		p.log.ErrorContext(ctx, "could not revoke the grant of an authorization code used twice",
			"client_id", ar.GetClient().GetID(), "grant_id", grantID, "error", err)
	}
}

// Revoke is the revocation endpoint (RFC 7009): revoking either token of a
// grant revokes both. An unknown token, or another client's (which must
// not be told from an unknown one, §2.2), is answered 200; every other
// error is said as it is — fosite's writer answers 200 to anything but
// invalid_request and invalid_client, so a revocation the database did not
// take would look done (§2.2.1: 503).
func (p *Provider) Revoke(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if err := requireFormBody(r); err != nil {
		writeError(w, err)
		return
	}
	err := p.revoke(ctx, r)
	if err == nil || errors.Is(err, fosite.ErrUnauthorizedClient) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	err = p.OAuthError(ctx, err, "")
	challengeClient(w, err)
	writeError(w, err)
}

// revoke revokes the token of r. fosite deletes the grant's refresh and
// access tokens in two steps; the transaction makes that one.
func (p *Provider) revoke(ctx context.Context, r *http.Request) error {
	if isBearerAuthorization(r) || ClaimedClientID(r) == "" {
		// RFC 7009 §2.1: the client authenticates (a public one names
		// itself); fosite would call a missing one invalid_request.
		return fosite.ErrInvalidClient.WithHint("Client authentication is required: HTTP Basic, client_secret_post, private_key_jwt, or client_id for a public client.")
	}
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		return p.oauth2.NewRevocationRequest(ctx, r)
	})
	if err == nil {
		p.metrics.tokensRevoked.Inc()
		// fosite authenticated the client, so the id it claimed is its id
		// (for private_key_jwt without client_id: the assertion's sub).
		clientID := audit.ClipID(ClaimedClientID(r))
		p.audit.Record(ctx, audit.Event{
			Type: audit.TokenRevoked, Actor: "client:" + clientID, ClientID: clientID, IP: reqctx.ClientIP(ctx),
			Details: map[string]string{"token_type_hint": audit.ClipID(r.PostForm.Get("token_type_hint"))},
		})
	}
	return err
}

// ClaimedClientID is the client id a token-endpoint-style request names,
// before anything is authenticated: the HTTP Basic user name
// (form-encoded, RFC 6749 §2.3.1; "" when it does not decode), the
// client_id parameter, or else the sub of a private_key_jwt assertion
// (RFC 7523 §3: the client id; client_id is optional there), read without
// verifying it. The form must have been parsed.
func ClaimedClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if unescaped, err := url.QueryUnescape(id); err == nil {
			return unescaped
		}
		return ""
	}
	if id := r.PostForm.Get("client_id"); id != "" {
		return id
	}
	if r.PostForm.Get("client_assertion_type") == clientjwks.JWTBearerAssertionType {
		return assertionSubject(r.PostForm.Get("client_assertion"))
	}
	return ""
}

// assertionSubject is the sub claim of a compact JWS, unverified; "" when
// it is not one.
func assertionSubject(assertion string) string {
	var claims struct {
		Sub string `json:"sub"`
	}
	if !clientjwks.DecodeUnverifiedClaims(assertion, &claims) {
		return ""
	}
	// Held to the rules of the form's own parameters: it is logged and
	// used as a rate-limit key.
	if !utf8.ValidString(claims.Sub) || strings.ContainsFunc(claims.Sub, unicode.IsControl) {
		return ""
	}
	return claims.Sub
}

// auditIssued records that ar got tokens (never the tokens themselves).
func (p *Provider) auditIssued(ctx context.Context, ar fosite.AccessRequester, replayed bool) {
	if p.audit == nil {
		return
	}
	clientID := ar.GetClient().GetID()
	details := map[string]string{
		"grant_type": strings.Join(ar.GetGrantTypes(), " "),
		"scope":      strings.Join(ar.GetGrantedScopes(), " "),
	}
	if keyID := apiKeyOf(ar.GetClient()); keyID != "" {
		details["api_key_id"] = keyID
	}
	if replayed {
		details["replayed"] = "true"
	}
	if dpopBound(ar) {
		// RFC 9449: the token is bound to a key (never the key itself).
		details["token_type"] = dpop.TokenType
	}
	if ar.GetGrantTypes().ExactOne(GrantJWTBearer) {
		assertionDetails(ar, details)
	}
	eventType := audit.TokenIssued
	if ar.GetGrantTypes().ExactOne(GrantTokenExchange) {
		eventType = audit.TokenExchanged
		exchangeDetails(ar, details)
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// Summarized (issued.go): one event per client, key and scope
		// per interval instead of one per token.
		k := issuedKey{clientID: clientID, apiKeyID: details["api_key_id"], scope: details["scope"], tokenType: details["token_type"]}
		if p.issued.add(k, p.now(), reqctx.ClientIP(ctx)) {
			select {
			case p.issuedFull <- struct{}{}:
			default:
			}
		}
		return
	}
	subject := "client:" + clientID
	if s, ok := ar.GetSession().(*Session); ok && s.Subject != "" && s.Subject != clientID {
		subject = "user:" + s.Subject
	}
	p.audit.Record(ctx, audit.Event{
		Type: eventType, Actor: "client:" + clientID, Subject: subject, ClientID: clientID,
		IP: reqctx.ClientIP(ctx), Details: details,
	})
}

// reuseRecorder counts, logs and audits refresh-token reuse. The storage
// adapter calls it when a rotated refresh token comes back after its retry
// window, as fosite is about to revoke the grant.
type reuseRecorder struct {
	audit   *audit.Recorder
	metrics *metrics
	log     *slog.Logger
}

// record records the reuse of req's refresh token, rotated at rotatedAt.
func (r *reuseRecorder) record(ctx context.Context, req fosite.Requester, rotatedAt time.Time) {
	clientID := ""
	if req.GetClient() != nil {
		clientID = req.GetClient().GetID()
	}
	subject := ""
	if s, ok := req.GetSession().(*Session); ok && s.Subject != "" {
		subject = "user:" + s.Subject
	}
	r.metrics.refreshReuse.Inc()
	r.log.WarnContext(ctx, "a rotated refresh token was used again after its retry window; revoking its grant",
		"client_id", clientID, "grant_id", req.GetID())
	r.audit.Record(ctx, audit.Event{
		Type: audit.RefreshReuseDetected, Actor: "client:" + clientID, Subject: subject, ClientID: clientID,
		IP: reqctx.ClientIP(ctx), Details: map[string]string{"rotated_at": rotatedAt.UTC().Format(time.RFC3339Nano), "grant_id": req.GetID()},
	})
}

// Client returns a registered client (storage.ErrNotFound if unknown).
func (p *Provider) Client(ctx context.Context, id string) (*storage.Client, error) {
	return p.store.ClientByID(ctx, id)
}

// prepareAPIKeyToken ties a client_credentials token to the API key that
// authenticated the request: all the key's scopes when none were
// requested, the key recorded in the session (revoking the key revokes the
// token), and an expiry no later than the key's.
func (p *Provider) prepareAPIKeyToken(ctx context.Context, ar fosite.AccessRequester, sess *Session, c *keyClient) error {
	sess.APIKeyID = c.keyID
	if len(ar.GetRequestedScopes()) == 0 {
		for _, s := range c.scopes {
			ar.GrantScope(s)
		}
	}
	key, err := p.apikeys.Key(ctx, c.keyID)
	if err != nil {
		return err
	}
	if !key.ExpiresAt.IsZero() {
		if exp := sess.GetExpiresAt(fosite.AccessToken); exp.IsZero() || key.ExpiresAt.Before(exp) {
			sess.SetExpiresAt(fosite.AccessToken, key.ExpiresAt.UTC())
		}
	}
	return nil
}
