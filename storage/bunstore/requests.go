package bunstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"

	"github.com/ory/fosite"
	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file implements fosite's token storage (oauth2.CoreStorage,
// TokenRevocationStorage, openid.OpenIDConnectRequestStorage,
// pkce.PKCERequestStorage and the client-assertion jti store).
//
// A fosite.Requester is stored as one row: its ID, client ID, subject,
// times, scopes and audiences, the URL-encoded form and the session as
// JSON. Loading rebuilds a *fosite.Request with the client read through
// the client cache and the session decoded into the prototype fosite
// passes.
//
// Keys: code, refresh and PKCE rows use the signature fosite passes (the
// HMAC half of the token, useless without the server's key). Access rows
// use hex(SHA-256(signature)), because a JWT access token's signature is
// long. The OIDC row uses hex(SHA-256(code)): fosite passes the raw
// authorization code there, which must never be stored.

const (
	tableCode    = "oauth2_code"
	tableAccess  = "oauth2_access"
	tableRefresh = "oauth2_refresh"
	tablePKCE    = "oauth2_pkce"
	tableOIDC    = "oauth2_oidc"
	tableJTI     = "oauth2_jti"
)

// requestTables are the tables of fosite requests; every row has a
// client_id and a subject.
var requestTables = []string{tableCode, tableAccess, tableRefresh, tablePKCE, tableOIDC}

// hashKey is the stored key for values that must not be stored as given.
func hashKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// ---- authorization codes -------------------------------------------------

func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.insertRequest(ctx, "create authorize code", tableCode, code, req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession returns ErrNotFound for an unknown code, and the
// full requester together with fosite.ErrInvalidatedAuthorizeCode for a
// used one (fosite then revokes the tokens issued for it).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	return s.getRequest(ctx, "get authorize code", tableCode, code, session, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession marks the code used. It is conditional on
// the code being active, so of concurrent exchanges of one code exactly one
// succeeds; the others get an error wrapping
// fosite.ErrInvalidatedAuthorizeCode.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	const op = "invalidate authorize code"
	res, err := s.db(ctx).NewRaw(
		"UPDATE ? SET active = ? WHERE signature = ? AND active",
		bun.Ident(tableCode), false, code,
	).Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	if err := requireRow(op, res); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%s: %w", op, fosite.ErrInvalidatedAuthorizeCode)
		}
		return err
	}
	return nil
}

// ---- access tokens -------------------------------------------------------

// CreateAccessTokenSession stores the token's request. When the session
// says which API key minted the token (storage.APIKeySession), the key's ID
// is stored with it, so that RevokeAPIKey finds the token.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	const op = "create access token"
	cols, err := s.newRequestColumns(hashKey(signature), req, fosite.AccessToken)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	m := &accessModel{requestColumns: cols}
	if ks, ok := req.GetSession().(storage.APIKeySession); ok && !isNil(ks) {
		m.APIKeyID = ks.GetAPIKeyID()
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// GetAccessTokenSession returns ErrNotFound for an unknown token. Expired
// tokens are returned: fosite checks the expiry itself.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getRequest(ctx, "get access token", tableAccess, hashKey(signature), session, fosite.ErrInactiveToken)
}

// DeleteAccessTokenSession is idempotent.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete access token", tableAccess, hashKey(signature))
}

// RevokeAccessToken deletes every access token of the grant (request ID).
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeRequest(ctx, "revoke access tokens", tableAccess, requestID)
}

// ---- refresh tokens ------------------------------------------------------

func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	const op = "create refresh token"
	cols, err := s.newRequestColumns(signature, req, fosite.RefreshToken)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	m := &refreshModel{requestColumns: cols}
	if accessSignature != "" {
		m.AccessSignature = hashKey(accessSignature)
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// GetRefreshTokenSession returns ErrNotFound for an unknown token, and for
// an inactive (rotated) one the full requester with a
// *storage.InactiveRefreshError carrying the rotation time. That error
// matches fosite.ErrInactiveToken, so fosite treats it as reuse and revokes
// the grant, unless the provider first decides it is a retry.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	const op = "get refresh token"
	m := new(refreshModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("r.signature = ?", signature).Scan(ctx); err != nil {
		return nil, mapErr(op, err)
	}
	req, err := s.toRequest(ctx, op, m.requestColumns, session)
	if err != nil {
		return nil, err
	}
	if !m.Active {
		return req, fmt.Errorf("%s: %w", op, &storage.InactiveRefreshError{RotatedAt: utcOrZero(m.RotatedAt)})
	}
	return req, nil
}

// DeleteRefreshTokenSession is idempotent.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete refresh token", tableRefresh, signature)
}

// RotateRefreshToken deactivates the refresh token and records when. It is
// conditional on the token being active, so of concurrent refreshes with
// one token exactly one succeeds; the others get an error matching
// fosite.ErrNotFound.
//
// The grant's access tokens are deliberately left alone: they expire on
// their own, and a single-page app keeps using its current access token
// while it refreshes.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	const op = "rotate refresh token"
	res, err := s.db(ctx).NewRaw(
		"UPDATE ? SET active = ?, rotated_at = ? WHERE signature = ? AND active",
		bun.Ident(tableRefresh), false, s.now(), signature,
	).Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// RevokeRefreshToken deletes every refresh token of the grant (request ID).
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeRequest(ctx, "revoke refresh tokens", tableRefresh, requestID)
}

// ---- PKCE ----------------------------------------------------------------

func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.insertRequest(ctx, "create pkce request", tablePKCE, signature, req, fosite.AuthorizeCode)
}

func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getRequest(ctx, "get pkce request", tablePKCE, signature, session, fosite.ErrInactiveToken)
}

// DeletePKCERequestSession is idempotent.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete pkce request", tablePKCE, signature)
}

// ---- OpenID Connect ------------------------------------------------------

// CreateOpenIDConnectSession stores the request under the SHA-256 of the
// raw authorization code fosite passes.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, req fosite.Requester) error {
	return s.insertRequest(ctx, "create openid connect session", tableOIDC, hashKey(authorizeCode), req, fosite.AuthorizeCode)
}

// GetOpenIDConnectSession decodes the session into requester's session.
// An unknown code is an error matching openid.ErrNoSessionFound.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, requester fosite.Requester) (fosite.Requester, error) {
	var proto fosite.Session
	if requester != nil {
		proto = requester.GetSession()
	}
	return s.getRequest(ctx, "get openid connect session", tableOIDC, hashKey(authorizeCode), proto, fosite.ErrInactiveToken)
}

// DeleteOpenIDConnectSession is idempotent.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	return s.deleteRequest(ctx, "delete openid connect session", tableOIDC, hashKey(authorizeCode))
}

// ---- client assertion jti ------------------------------------------------

// ClientAssertionJWTValid returns fosite.ErrJTIKnown when the jti was seen
// and has not expired.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	const op = "check client assertion jti"
	known, err := s.reader(ctx).NewSelect().Model((*jtiModel)(nil)).
		Where("j.id = ?", hashKey(jti)).
		Where("j.expires_at > ?", s.now()).
		Exists(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	if known {
		return fmt.Errorf("%s: %w", op, fosite.ErrJTIKnown)
	}
	return nil
}

// SetClientAssertionJWT records a jti until exp. Expired jtis are deleted
// first (so an expired entry for the same jti does not block it); a jti
// that is still known is fosite.ErrJTIKnown. The insert uses ON CONFLICT
// DO NOTHING rather than a failing INSERT so that, inside a PostgreSQL
// transaction, a replay does not abort the transaction.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	const op = "set client assertion jti"
	db := s.db(ctx)
	if _, err := db.NewDelete().Model((*jtiModel)(nil)).Where("expires_at <= ?", s.now()).Exec(ctx); err != nil {
		return mapErr(op, err)
	}
	res, err := db.NewInsert().Model(&jtiModel{ID: hashKey(jti), ExpiresAt: dbTime(exp)}).
		On("CONFLICT (id) DO NOTHING").
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	if err := requireRow(op, res); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%s: %w", op, fosite.ErrJTIKnown)
		}
		return err
	}
	return nil
}

// ---- shared row handling -------------------------------------------------

// newRequestColumns flattens req into a row keyed by key; tokenType picks
// the expiry from the session.
func (s *Store) newRequestColumns(key string, req fosite.Requester, tokenType fosite.TokenType) (requestColumns, error) {
	if req == nil {
		return requestColumns{}, errors.New("nil request")
	}
	client := req.GetClient()
	if isNil(client) {
		return requestColumns{}, errors.New("request has no client")
	}
	cols := requestColumns{
		Signature:         key,
		RequestID:         req.GetID(),
		ClientID:          client.GetID(),
		RequestedAt:       dbTime(req.GetRequestedAt()),
		Active:            true,
		RequestedScopes:   encodeList(req.GetRequestedScopes()),
		GrantedScopes:     encodeList(req.GetGrantedScopes()),
		RequestedAudience: encodeList(req.GetRequestedAudience()),
		GrantedAudience:   encodeList(req.GetGrantedAudience()),
		Form:              req.GetRequestForm().Encode(),
	}
	session := req.GetSession()
	if !isNil(session) {
		cols.Subject = session.GetSubject()
		// Zero (no expiry) stays zero and is stored as NULL.
		cols.ExpiresAt = dbTime(session.GetExpiresAt(tokenType))
	}
	var err error
	if cols.Session, err = json.Marshal(session); err != nil {
		return requestColumns{}, fmt.Errorf("encode session: %w", err)
	}
	return cols, nil
}

func (s *Store) insertRequest(ctx context.Context, op, table, key string, req fosite.Requester, tokenType fosite.TokenType) error {
	cols, err := s.newRequestColumns(key, req, tokenType)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	row, rowCols, err := newRequestRow(table)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	*rowCols = cols
	_, err = s.db(ctx).NewInsert().Model(row).Exec(ctx)
	return mapErr(op, err)
}

func (s *Store) selectRequest(ctx context.Context, op, table, key string) (requestColumns, error) {
	row, cols, err := newRequestRow(table)
	if err != nil {
		return requestColumns{}, fmt.Errorf("%s: %w", op, err)
	}
	err = s.reader(ctx).NewSelect().Model(row).
		Where("r.signature = ?", key).
		Scan(ctx)
	if err != nil {
		return requestColumns{}, mapErr(op, err)
	}
	return *cols, nil
}

// newRequestRow returns an empty row of table, one of the tables that
// insertRequest and selectRequest serve, and its request columns.
func newRequestRow(table string) (row any, cols *requestColumns, err error) {
	switch table {
	case tableCode:
		m := new(codeModel)
		return m, &m.requestColumns, nil
	case tableAccess:
		m := new(accessModel)
		return m, &m.requestColumns, nil
	case tablePKCE:
		m := new(pkceModel)
		return m, &m.requestColumns, nil
	case tableOIDC:
		m := new(oidcModel)
		return m, &m.requestColumns, nil
	}
	return nil, nil, fmt.Errorf("no row type for table %s", table)
}

// getRequest loads a row; an inactive one comes back with the requester
// and inactiveErr (what fosite expects for that table).
func (s *Store) getRequest(ctx context.Context, op, table, key string, session fosite.Session, inactiveErr error) (fosite.Requester, error) {
	cols, err := s.selectRequest(ctx, op, table, key)
	if err != nil {
		return nil, err
	}
	req, err := s.toRequest(ctx, op, cols, session)
	if err != nil {
		return nil, err
	}
	if !cols.Active {
		return req, fmt.Errorf("%s: %w", op, inactiveErr)
	}
	return req, nil
}

func (s *Store) deleteRequest(ctx context.Context, op, table, key string) error {
	_, err := s.db(ctx).NewRaw("DELETE FROM ? WHERE signature = ?", bun.Ident(table), key).Exec(ctx)
	return mapErr(op, err)
}

func (s *Store) revokeRequest(ctx context.Context, op, table, requestID string) error {
	_, err := s.db(ctx).NewRaw("DELETE FROM ? WHERE request_id = ?", bun.Ident(table), requestID).Exec(ctx)
	return mapErr(op, err)
}

// toRequest rebuilds the requester of a row. session is the prototype the
// stored session is decoded into; it may be nil (fosite's revocation
// handler passes nil), and the request then has a nil session. A row whose
// client no longer exists is not found.
func (s *Store) toRequest(ctx context.Context, op string, cols requestColumns, session fosite.Session) (*fosite.Request, error) {
	client, err := s.ClientByID(ctx, cols.ClientID)
	if err != nil {
		return nil, fmt.Errorf("%s: load client: %w", op, err)
	}
	form, err := url.ParseQuery(cols.Form)
	if err != nil {
		return nil, fmt.Errorf("%s: decode form: %w", op, err)
	}
	req := &fosite.Request{
		ID:          cols.RequestID,
		RequestedAt: cols.RequestedAt.UTC(),
		Client:      client,
		Form:        form,
		Session:     session,
	}
	var requestedScopes, grantedScopes, requestedAudience, grantedAudience []string
	err = decodeLists(
		listField{"requested_scopes", cols.RequestedScopes, &requestedScopes},
		listField{"granted_scopes", cols.GrantedScopes, &grantedScopes},
		listField{"requested_audience", cols.RequestedAudience, &requestedAudience},
		listField{"granted_audience", cols.GrantedAudience, &grantedAudience},
	)
	if err != nil {
		return nil, err
	}
	req.RequestedScope = requestedScopes
	req.GrantedScope = grantedScopes
	req.RequestedAudience = requestedAudience
	req.GrantedAudience = grantedAudience
	if !isNil(session) {
		if err := json.Unmarshal(cols.Session, session); err != nil {
			return nil, fmt.Errorf("%s: decode session: %w", op, err)
		}
	}
	return req, nil
}

// isNil reports whether v is nil or an interface holding a nil pointer
// (json.Unmarshal cannot decode into the latter).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Interface, reflect.Slice:
		return rv.IsNil()
	}
	return false
}
