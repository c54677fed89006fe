package bunstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	bundialect "github.com/uptrace/bun/dialect"

	"github.com/gatehouse-dev/gatehouse/migrations"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

// The upgrade tests have the shape of hydra's migratest: every migration
// has a fixture, testdata/<version>_<name>.sql, the rows a binary whose
// newest migration it is writes, with bun's literals (UTC times as
// '2006-01-02 15:04:05+00:00', TRUE and FALSE); rows whose literals differ
// between the dialects (bun writes a blob as X'..' on SQLite and '\x..' on
// PostgreSQL) go in testdata/<version>_<name>.<dialect>.sql, one for each
// dialect. TestMigrationUpgrades applies the migrations one at a time,
// each followed by its fixture, so that every migration runs on the rows
// of every earlier release. A new migration adds its fixture and its
// upgradeCase; from then on every later migration is tested on its rows
// too.

// An upgradeCase is one migration: what its up migration changes in the
// schema, and what TestMigrationUpgrades checks of its fixture's rows at
// each stage. Every check is optional.
type upgradeCase struct {
	version string
	// changes is what the up migration changes in the schema, as
	// schemaChanges describes it.
	changes []string
	// loaded runs once every migration is applied: the fixture's rows
	// load through the store as written, with the later migrations'
	// columns at their defaults and their data migrations applied.
	loaded func(t *testing.T, s *bunstore.Store)
	// used exercises what the later migrations added on those rows; it
	// may change them.
	used func(t *testing.T, s *bunstore.Store)
	// downTo runs when the down migrations have taken the schema back to
	// this version: what was written in it is still there.
	downTo func(t *testing.T, s *bunstore.Store)
	// redone runs when the migrations have been applied again after that.
	redone func(t *testing.T, s *bunstore.Store)
}

// upgradeCases are the migrations, oldest first.
func upgradeCases() []upgradeCase {
	return []upgradeCase{{
		version: "20261127000001", // init
		changes: []string{
			"table auth_flows", "table clients", "table consent_grants", "table login_sessions", "table oauth2_access",
			"table oauth2_code", "table oauth2_jti", "table oauth2_oidc", "table oauth2_pkce", "table oauth2_refresh",
			"table signing_keys", "table users",
		},
		loaded: wantFirstClientAndUser,
		used:   useFirstClient,
		redone: wantFirstClientAndUser,
	}, {
		version: "20261127000002", // registration_and_par
		changes: []string{
			"column clients.client_uri", "column clients.contacts", "column clients.jwks", "column clients.jwks_uri",
			"column clients.logo_uri", "column clients.policy_uri", "column clients.registered_by",
			"column clients.registration_access_token_hash", "column clients.require_pushed_authorization_requests",
			"column clients.token_endpoint_auth_signing_alg", "column clients.tos_uri",
			"index clients_created_at_id_idx", "index oauth2_access_subject_idx", "index oauth2_refresh_subject_idx",
			"index users_created_at_id_idx", "table pushed_requests", "table registration_tokens",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			wantRegisteredClients(t, s, true)
			u, err := s.UserByID(context.Background(), "dcr-user")
			if err != nil || u.Email != "dcr@example.com" || len(u.Roles) != 1 {
				t.Errorf("dcr-user = %+v, %v; lost data", u, err)
			}
		},
		used:   useRegisteredClients,
		downTo: wantRegisteredRowsKept,
		// The RFC 7591 metadata went with its columns.
		redone: func(t *testing.T, s *bunstore.Store) {
			wantRegisteredClients(t, s, false)
			if _, err := s.UserByID(context.Background(), "dcr-user"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("dcr-user, deleted before the down migrations: %v, want ErrNotFound", err)
			}
		},
	}, {
		version: "20261127000003", // client_owners_api_keys_audit
		changes: []string{
			"column clients.owner_id", "column oauth2_access.api_key_id", "index clients_owner_id_idx",
			"index oauth2_access_api_key_id_idx", "table api_keys", "table audit_events",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			wantPasswordSessions(t, s)
			stored := rawStrings(t, s, "SELECT amr || '|' || acr FROM login_sessions WHERE user_id IN ('sessions-user', 'sessions-other') ORDER BY id")
			if !slices.Equal(stored, []string{"[]|", "[]|"}) {
				t.Errorf("amr|acr of the old sessions = %q, want the defaults []|", stored)
			}
		},
		used:   useSessionsForUpstreamSignIn,
		downTo: wantSessionsKept,
		redone: func(t *testing.T, s *bunstore.Store) {
			wantPasswordSessions(t, s)
			// The session made since lost its AMR and ACR with the columns.
			if got, err := s.LoginSession(context.Background(), "fed-session"); err != nil || len(got.AMR) != 0 || got.ACR != "" {
				t.Errorf("LoginSession made before the down migrations = %+v, %v; want no AMR and ACR", got, err)
			}
		},
	}, {
		version: "20261127000004", // upstream_sign_in
		changes: []string{
			"column login_sessions.acr", "column login_sessions.amr", "table federated_identities",
			"table upstream_states",
		},
		loaded: wantSigningKeys,
		used:   useSigningKeys,
		downTo: wantKeysKeptAndTwoNextKeysRefused,
		redone: wantKeysAfterRedo,
	}, {
		version: "20261127000005", // token_format_key_rotation_system_keys
		changes: []string{
			"column clients.access_token_format", "index signing_keys_one_next_idx", "table system_keys",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			c, err := s.ClientByID(context.Background(), "jwt-client")
			if err != nil || c.RefreshRetryWindow != nil || c.AccessTokenFormat != "jwt" || c.Name != "JWT client" {
				t.Errorf("jwt-client after the upgrade = %+v, %v; want the server's retry window and JWTs", c, err)
			}
		},
		used: func(t *testing.T, s *bunstore.Store) {
			succ := &storage.RefreshSuccessor{Signature: "jwt-sig", ClientID: "jwt-client", Sealed: []byte{1}, ExpiresAt: time.Now().Add(time.Minute)}
			if err := s.CreateRefreshSuccessor(context.Background(), succ); err != nil {
				t.Fatalf("CreateRefreshSuccessor: %v", err)
			}
		},
		downTo: func(t *testing.T, s *bunstore.Store) {
			if got := rawStrings(t, s, "SELECT access_token_format FROM clients WHERE id = 'jwt-client'"); !slices.Equal(got, []string{"jwt"}) {
				t.Errorf("access_token_format of jwt-client after the down migrations = %q, want jwt", got)
			}
		},
		redone: func(t *testing.T, s *bunstore.Store) {
			if _, err := s.RefreshSuccessor(context.Background(), "jwt-sig"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("RefreshSuccessor after the down and up migrations: %v, want ErrNotFound", err)
			}
		},
	}, {
		version: "20261127000006", // refresh_retry_and_login_throttles
		changes: []string{
			"column clients.refresh_retry_window_ms", "index audit_events_subject_idx", "table login_throttles",
			"table refresh_successors",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			wantOldLock(t, s)
			wantOperatorClientsFirstParty(t, s)
		},
		used: useOldLock,
		redone: func(t *testing.T, s *bunstore.Store) {
			if _, _, err := s.RecordLoginFailure(context.Background(), oldLockBrowser, oldLockAt, lockPolicy); err != nil {
				t.Errorf("RecordLoginFailure of a browser after the down and up migrations: %v", err)
			}
		},
	}, {
		version: "20261207000001", // client_trust
		changes: []string{
			"column api_keys.created_via", "column clients.first_party", "column clients.introspect_any_token",
			"column clients.resources",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			wantTrustedClient(t, s, true, []string{"https://api.example"}, 1)
		},
		// The down migration took what the client was trusted with; the
		// data migration makes it first-party again (an operator client
		// allowed a management scope).
		redone: func(t *testing.T, s *bunstore.Store) { wantTrustedClient(t, s, false, nil, 0) },
	}, {
		version: "20261207000002", // login_devices
		changes: []string{
			"column login_throttles.device_of", "column login_throttles.locks", "index login_throttles_device_of_idx",
		},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			th, err := s.LoginThrottle(ctx, storage.LoginThrottleKey{Account: "fedcba9876543210"})
			if err != nil || th.Locks != 2 || th.Failures != 0 || th.Device != "" || !th.LockedUntil.IsZero() {
				t.Errorf("account record = %+v, %v; want two locks and no failure", th, err)
			}
			th, err = s.LoginThrottle(ctx, storage.LoginThrottleKey{Account: "fedcba9876543210", Device: "phone"})
			if err != nil || th.Failures != 1 || th.Account != "fedcba9876543210" || th.Device != "phone" {
				t.Errorf("browser record = %+v, %v; want one failure of phone", th, err)
			}
		},
	}, {
		version: "20261208000101", // request_object_signing_alg
		changes: []string{"column clients.request_object_signing_alg"},
		loaded:  func(t *testing.T, s *bunstore.Store) { wantRequestObjectAlg(t, s, "PS256") },
		redone:  func(t *testing.T, s *bunstore.Store) { wantRequestObjectAlg(t, s, "") },
	}, {
		version: "20261208000201", // logout_channels
		changes: []string{
			"column clients.backchannel_logout_session_required", "column clients.backchannel_logout_uri",
			"column clients.frontchannel_logout_session_required", "column clients.frontchannel_logout_uri",
			"column login_sessions.ip", "column login_sessions.sid", "column login_sessions.user_agent",
			"index login_sessions_sid_idx", "table login_session_clients", "table logout_deliveries",
		},
		loaded: wantLogoutRows,
		// Sessions of earlier releases have no sid and no clients.
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			ls, err := s.LoginSession(ctx, "session-of-sessions-user")
			if err != nil || ls.SID != "" || ls.UserAgent != "" || ls.IP != "" {
				t.Errorf("older session = %+v, %v; want no sid, user agent or IP", ls, err)
			}
			if err := s.AddLoginSessionClient(ctx, "session-of-sessions-user", "logout-client", time.Now()); err != nil {
				t.Errorf("AddLoginSessionClient on an older session: %v", err)
			}
		},
	}, {
		version: "20261208000301", // client_pkce_optional
		changes: []string{"column clients.pkce_optional"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			c, err := s.ClientByID(context.Background(), "legacy-oidc-client")
			if err != nil || !c.PKCEOptional {
				t.Errorf("legacy-oidc-client = %+v, %v; want PKCE optional", c, err)
			}
			c, err = s.ClientByID(context.Background(), "trusted-client")
			if err != nil || c.PKCEOptional {
				t.Errorf("a client from before the migration = %+v, %v; want PKCE required", c, err)
			}
		},
	}, {
		version: "20261209000101", // mail_outbox_password_resets
		changes: []string{"table mail_outbox", "table password_resets"},
		loaded:  wantMailOutboxRows,
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			got, err := s.ClaimMail(ctx, time.Date(2026, 12, 9, 10, 2, 0, 0, time.UTC), time.Minute, 10)
			if err != nil || len(got) != 1 || got[0].ID != "waiting-mail" || got[0].Attempts != 2 {
				t.Errorf("ClaimMail = %+v, %v; want the waiting message, second attempt", got, err)
			}
			r, err := s.PasswordResetByHash(ctx, "reset-hash")
			if err != nil || r.UserID != "first-user" {
				t.Errorf("PasswordResetByHash = %+v, %v; want the fixture's link", r, err)
			}
		},
	}, {
		version: "20261209000102", // email_verifications
		changes: []string{"table email_verifications"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			v, err := s.EmailVerificationByHash(context.Background(), "verify-hash")
			if err != nil || v.UserID != "first-user" || v.Email != "first@example.com" {
				t.Errorf("EmailVerificationByHash = %+v, %v; want the fixture's link", v, err)
			}
		},
	}, {
		version: "20261209000103", // signups
		changes: []string{"table signups"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			su, err := s.SignupByHash(context.Background(), "signup-hash")
			if err != nil || su.Email != "newcomer@example.com" || su.Name != "New Comer" {
				t.Errorf("SignupByHash = %+v, %v; want the fixture's sign-up", su, err)
			}
		},
	}, {
		version: "20261209000201", // second_factors
		changes: []string{"column clients.require_mfa", "table recovery_codes", "table user_totp"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			tt, err := s.UserTOTP(ctx, "mfa-user")
			if err != nil || tt.LastStep != 59000000 || tt.ConfirmedAt.IsZero() || string(tt.Secret) != "\x00\x01\x02\x03" {
				t.Errorf("mfa-user's authenticator = %+v, %v", tt, err)
			}
			if n, err := s.RecoveryCodesLeft(ctx, "mfa-user"); err != nil || n != 1 {
				t.Errorf("mfa-user's recovery codes left = %d, %v; want 1", n, err)
			}
			c, err := s.ClientByID(ctx, "mfa-client")
			if err != nil || !c.RequireMFA {
				t.Errorf("mfa-client = %+v, %v; want require_mfa", c, err)
			}
			c, err = s.ClientByID(ctx, "legacy-oidc-client")
			if err != nil || c.RequireMFA {
				t.Errorf("a client from before the migration = %+v, %v; want no require_mfa", c, err)
			}
		},
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			if ok, err := s.UseRecoveryCode(ctx, "mfa-user", "hash-used", time.Now()); err != nil || ok {
				t.Errorf("using a used recovery code = %v, %v; want false", ok, err)
			}
			if ok, err := s.AdvanceTOTPStep(ctx, "mfa-user", 59000001); err != nil || !ok {
				t.Errorf("the next step = %v, %v; want accepted", ok, err)
			}
		},
	}, {
		version: "20261209000301", // passkeys
		changes: []string{"table passkeys", "table webauthn_challenges"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			p, err := s.PasskeyByCredentialID(context.Background(), []byte{0, 1, 2, 3})
			if err != nil || p.ID != "legacy-passkey" || p.UserID != "first-user" || p.SignCount != 4 ||
				!p.UserVerified || !slices.Equal(p.Transports, []string{"internal"}) || p.LastUsedAt.IsZero() {
				t.Errorf("legacy-passkey = %+v, %v; want it as written", p, err)
			}
		},
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			if err := s.RenamePasskey(ctx, "first-user", "legacy-passkey", "Old laptop"); err != nil {
				t.Errorf("RenamePasskey on an older passkey: %v", err)
			}
		},
	}, {
		version: "20261209000401", // email_change
		changes: []string{"column email_verifications.previous_email"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			v, err := s.EmailVerificationByHash(ctx, "change-hash")
			if err != nil || v.Email != "moved@example.com" || v.PreviousEmail != "sessions-user@example.com" {
				t.Errorf("the change link = %+v, %v; want it as written", v, err)
			}
			// A link of the release before is a verification, not a change.
			v, err = s.EmailVerificationByHash(ctx, "verify-hash")
			if err != nil || v.PreviousEmail != "" {
				t.Errorf("the older link = %+v, %v; want no previous address", v, err)
			}
		},
	}, {
		version: "20261210000101", // client_metadata_documents
		changes: []string{"column clients.document_fresh_until", "column clients.document_gone_at", "column clients.metadata_document"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			c, err := s.ClientByID(ctx, "https://app.example/client.json")
			if err != nil || !c.MetadataDocument || !c.DocumentFreshUntil.Equal(time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)) || !c.DocumentGoneAt.IsZero() {
				t.Errorf("the document's client = %+v, %v; want it as written", c, err)
			}
			// A client of the release before is a registered one.
			c, err = s.ClientByID(ctx, "mfa-client")
			if err != nil || c.MetadataDocument || !c.DocumentFreshUntil.IsZero() {
				t.Errorf("an older client = %+v, %v; want no document", c, err)
			}
		},
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			c, err := s.ClientByID(ctx, "https://app.example/client.json")
			if err != nil {
				t.Fatal(err)
			}
			c.DocumentGoneAt = time.Date(2026, 12, 10, 13, 0, 0, 0, time.UTC)
			if err := s.UpdateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c, err = s.ClientByID(ctx, c.ID); err != nil || !c.DocumentGoneAt.Equal(time.Date(2026, 12, 10, 13, 0, 0, 0, time.UTC)) {
				t.Errorf("marking the document gone: %+v, %v", c, err)
			}
		},
	}, {
		version: "20261210000201", // resources
		changes: []string{"column clients.default_resource", "table resources"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			r, err := s.ResourceByID(ctx, "https://mcp.example/mcp")
			if err != nil || r.Name != "MCP server" || !slices.Equal(r.Scopes, []string{"tools:read"}) ||
				r.AccessTokenFormat != "jwt" || r.AccessTokenLifetime != 5*time.Minute || r.SigningAlg != "ES256" {
				t.Errorf("the resource = %+v, %v; want it as written", r, err)
			}
			c, err := s.ClientByID(ctx, "resource-client")
			if err != nil || c.DefaultResource != "https://mcp.example/mcp" {
				t.Errorf("resource-client = %+v, %v; want its default resource", c, err)
			}
			c, err = s.ClientByID(ctx, "legacy-oidc-client")
			if err != nil || c.DefaultResource != "" {
				t.Errorf("a client from before the migration = %+v, %v; want no default resource", c, err)
			}
		},
	}, {
		version: "20261210000401", // device authorizations
		changes: []string{"table device_authorizations"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			d, err := s.DeviceAuthorizationBySignature(context.Background(), "device-sig")
			if err != nil || d.UserCode != "BCDFGHJK" || d.ClientID != "device-client" || d.Status != "approved" ||
				d.Interval != 5*time.Second || d.Polls != 1 || d.UserID != "device-user" ||
				!slices.Equal(d.GrantedScopes, []string{"openid"}) || !slices.Equal(d.AMR, []string{"pwd"}) ||
				!d.LastPolledAt.Equal(time.Date(2026, 12, 10, 10, 0, 6, 0, time.UTC)) {
				t.Errorf("the device authorization = %+v, %v; want it as written", d, err)
			}
		},
		used: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			if err := s.ConsumeDeviceAuthorization(ctx, "device-sig"); err != nil {
				t.Errorf("consuming the approved authorization: %v", err)
			}
			if err := s.ConsumeDeviceAuthorization(ctx, "device-sig"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("consuming it again = %v; want ErrNotFound", err)
			}
		},
	}, {
		version: "20261210000501", // token_exchange
		changes: []string{"column clients.token_exchange_impersonation", "column clients.token_exchange_subject_types"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			c, err := s.ClientByID(ctx, "exchange-client")
			if err != nil || !c.TokenExchangeImpersonation || !slices.Contains(c.GrantTypes, "urn:ietf:params:oauth:grant-type:token-exchange") ||
				!slices.Equal(c.TokenExchangeSubjectTypes, []string{"urn:ietf:params:oauth:token-type:id_token"}) {
				t.Errorf("exchange-client = %+v, %v; want the grant, impersonation allowed", c, err)
			}
			// A client of the release before may not impersonate.
			c, err = s.ClientByID(ctx, "resource-client")
			if err != nil || c.TokenExchangeImpersonation || len(c.TokenExchangeSubjectTypes) != 0 {
				t.Errorf("a client from before the migration = %+v, %v; want no impersonation", c, err)
			}
		},
	}, {
		version: "20261211000101", // dpop_proofs
		changes: []string{"table dpop_proofs"},
		used: func(t *testing.T, s *bunstore.Store) {
			// The fixture's proof is remembered: a replay of it is refused.
			ctx := context.Background()
			fresh, err := s.UseDPoPProof(ctx, "proof-key", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil || fresh {
				t.Errorf("using the fixture's proof again = %v, %v; want a replay", fresh, err)
			}
		},
	}, {
		version: "20261211000201", // client_dpop_bound_access_tokens
		changes: []string{"column clients.dpop_bound_access_tokens"},
		loaded: func(t *testing.T, s *bunstore.Store) {
			ctx := context.Background()
			c, err := s.ClientByID(ctx, "dpop-client")
			if err != nil || !c.DPoPBoundAccessTokens {
				t.Errorf("dpop-client = %+v, %v; want DPoP required", c, err)
			}
			// A client of the release before does not require DPoP.
			c, err = s.ClientByID(ctx, "exchange-client")
			if err != nil || c.DPoPBoundAccessTokens {
				t.Errorf("a client from before the migration = %+v, %v; want DPoP optional", c, err)
			}
		},
	}}
}

// wantMailOutboxRows: the outbox fixture's rows load as written: the dead
// letter listed, the waiting message not.
func wantMailOutboxRows(t *testing.T, s *bunstore.Store) {
	t.Helper()
	dead, err := s.DeadMail(context.Background(), 10)
	if err != nil || len(dead) != 1 || dead[0].ID != "dead-mail" || dead[0].To != "gone@example.com" ||
		dead[0].LastError != "550 no such user" || dead[0].Attempts != 3 {
		t.Errorf("DeadMail = %+v, %v; want the fixture's dead letter", dead, err)
	}
}

// wantLogoutRows: the logout fixture's rows load as written.
func wantLogoutRows(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "logout-client")
	if err != nil || c.BackchannelLogoutURI != "https://rp.example/bc" || !c.BackchannelLogoutSessionRequired ||
		c.FrontchannelLogoutURI != "https://rp.example/fc" || !c.FrontchannelLogoutSessionRequired {
		t.Errorf("logout-client = %+v, %v; want both logout endpoints, sessions required", c, err)
	}
	ls, err := s.LoginSession(ctx, "logout-session")
	if err != nil || ls.SID != "logout-sid" || ls.UserAgent != "Test browser" || ls.IP != "192.0.2.7" {
		t.Errorf("logout-session = %+v, %v; want its sid and browser", ls, err)
	}
	if ids, err := s.LoginSessionClients(ctx, "logout-session"); err != nil || !slices.Equal(ids, []string{"logout-client"}) {
		t.Errorf("LoginSessionClients(logout-session) = %q, %v; want logout-client", ids, err)
	}
	at := time.Date(2026, 12, 8, 10, 1, 0, 0, time.UTC)
	ds, err := s.ClaimLogoutDeliveries(ctx, at, time.Nanosecond, 10)
	if err != nil || len(ds) != 1 || ds[0].ID != "logout-delivery" || ds[0].Attempts != 2 || ds[0].SID != "logout-sid" ||
		ds[0].LastError != "503 Service Unavailable" {
		t.Errorf("ClaimLogoutDeliveries = %+v, %v; want logout-delivery's second attempt", ds, err)
	}
}

// TestMigrationUpgrades: a database that each release in turn migrated and
// wrote to takes every later migration; its rows still load, with the new
// columns at their defaults and the data migrations applied, and what the
// later migrations added works on them. The down migrations, newest first,
// each take the schema back to exactly what it was before its up
// migration, keeping the rows written before it; the up migrations apply
// again after that, and after the first migration's down migration too.
func TestMigrationUpgrades(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		ms := knownMigrations(t, dialect)
		cases := upgradeCases()
		if len(cases) != len(ms) {
			t.Fatalf("%d upgrade cases for %d migrations: every migration needs a case and a fixture", len(cases), len(ms))
		}
		for i, m := range ms {
			if cases[i].version != m.version {
				t.Fatalf("upgrade case %d is for %s, want %s (one per migration, oldest first)", i, cases[i].version, m)
			}
		}
		wantFixturesOfKnownMigrations(t, ms)

		s := openUnmigrated(t, dialect)
		// schemas[i] is the schema with the first i migrations applied.
		schemas := [][]string{schemaObjects(t, s)}
		for i, m := range ms {
			if err := s.MigrateTo(ctx, m.version); err != nil {
				t.Fatalf("apply %s on the rows of the releases before it: %v", m, err)
			}
			schemas = append(schemas, schemaObjects(t, s))
			if got := schemaChanges(schemas[i], schemas[i+1]); !slices.Equal(got, cases[i].changes) {
				t.Errorf("%s changes the schema by %q, want %q", m, got, cases[i].changes)
			}
			if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != i+1 || known != len(ms) {
				t.Fatalf("SchemaStatus after %s = %d, %d, %v; want %d, %d", m, applied, known, err, i+1, len(ms))
			}
			want := bunstore.ErrSchemaNotMigrated
			if i == len(ms)-1 {
				want = nil
			}
			if err := s.CheckSchema(ctx); !errors.Is(err, want) {
				t.Fatalf("CheckSchema after %s: %v, want %v", m, err, want)
			}
			if _, err := s.WriterDB().ExecContext(ctx, fixtureSQL(t, dialect, m)); err != nil {
				t.Fatalf("insert the rows of %s: %v", m, err)
			}
		}
		latest := schemas[len(ms)]
		applied := appliedMigrations(t, s)
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate on a migrated database: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		if !slices.Equal(appliedMigrations(t, s), applied) {
			t.Errorf("Migrate on a migrated database applied %q, had %q", appliedMigrations(t, s), applied)
		}
		wantSchema(t, s, latest, "after Migrate on a migrated database")

		wantEveryClientAndUserListed(t, s)
		for _, c := range cases {
			if c.loaded != nil {
				c.loaded(t, s)
			}
		}
		for _, c := range cases {
			if c.used != nil {
				c.used(t, s)
			}
		}

		// Down (the newest migration first) to the first schema, then up.
		for i := len(ms) - 1; i >= 1; i-- {
			migrateDown(t, s, dialect, ms[i])
			wantSchema(t, s, schemas[i], "after the down migration of "+ms[i].String())
			if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
				t.Fatalf("CheckSchema after the down migration of %s: %v, want ErrSchemaNotMigrated", ms[i], err)
			}
			if c := cases[i-1]; c.downTo != nil {
				c.downTo(t, s)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migrations: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after the down and up migrations: %v", err)
		}
		wantSchema(t, s, latest, "after the down and up migrations")
		wantEveryClientAndUserListed(t, s)
		for _, c := range cases {
			if c.redone != nil {
				c.redone(t, s)
			}
		}

		// All the way down, the first migration too (the others were
		// checked above): nothing is left.
		for i := len(ms) - 1; i >= 0; i-- {
			migrateDown(t, s, dialect, ms[i])
		}
		if len(schemas[0]) != 0 {
			t.Errorf("schema before the first migration = %q, want none", schemas[0])
		}
		wantSchema(t, s, schemas[0], "after every down migration")
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after every down migration: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after every down migration and Migrate: %v", err)
		}
		wantSchema(t, s, latest, "after every down migration and Migrate")
	})
}

// wantEveryClientAndUserListed: the listings load every client and user of
// every release, oldest first, and page after a user of the first one.
func wantEveryClientAndUserListed(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	clients, err := s.ListClients(ctx, storage.Page{})
	if n := rawCount(t, s, "SELECT count(*) FROM clients"); err != nil || len(clients) != n {
		t.Errorf("ListClients = %d clients, %v; the table has %d", len(clients), err, n)
	}
	users, err := s.ListUsers(ctx, storage.Page{})
	if n := rawCount(t, s, "SELECT count(*) FROM users"); err != nil || len(users) != n || n == 0 {
		t.Fatalf("ListUsers = %d users, %v; the table has %d", len(users), err, n)
	}
	if users[0].ID != "first-user" {
		t.Errorf("oldest user = %s, want first-user", users[0].ID)
	}
	if rest, err := s.ListUsers(ctx, storage.Page{After: "first-user"}); err != nil || len(rest) != len(users)-1 {
		t.Errorf("ListUsers after first-user = %d users, %v; want %d", len(rest), err, len(users)-1)
	}
	if rest, err := s.ListUsers(ctx, storage.Page{After: users[len(users)-1].ID}); err != nil || len(rest) != 0 {
		t.Errorf("ListUsers after the newest user = %d users, %v; want none", len(rest), err)
	}
}

// wantFirstClientAndUser checks the rows of the first schema: they lost
// nothing, and every client field added since is at its default.
func wantFirstClientAndUser(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "first-client")
	if err != nil {
		t.Fatalf("ClientByID(first-client): %v", err)
	}
	if c.Name != "First client" || c.SecretHash != "first-hash" || !c.SkipConsent ||
		c.TokenEndpointAuthMethod != "client_secret_post" || len(c.RedirectURIs) != 1 || len(c.AllowedOrigins) != 1 {
		t.Errorf("first-client lost data: %+v", c)
	}
	if c.LogoURI != "" || c.ClientURI != "" || c.PolicyURI != "" || c.TosURI != "" || c.Contacts != nil ||
		c.JWKS != "" || c.JWKSURI != "" || c.TokenEndpointAuthSigningAlg != "" ||
		c.RegistrationAccessTokenHash != "" || c.RegisteredBy != "" || c.RequirePushedAuthorizationRequests ||
		c.OwnerID != "" || c.AccessTokenFormat != "" || c.RefreshRetryWindow != nil ||
		c.FirstParty || c.IntrospectAnyToken || len(c.Resources) != 0 {
		t.Errorf("first-client's later fields are not at their defaults: %+v", c)
	}
	if ok, err := s.ClientOriginAllowed(ctx, "https://first.example"); err != nil || !ok {
		t.Errorf("ClientOriginAllowed of first-client's origin = %v, %v", ok, err)
	}
	u, err := s.UserByID(ctx, "first-user")
	if err != nil {
		t.Fatalf("UserByID(first-user): %v", err)
	}
	if u.Email != "first@example.com" || u.Name != "First user" || len(u.Roles) != 1 {
		t.Errorf("first-user lost data: %+v", u)
	}
}

// useFirstClient sets the fields of the second migration on first-client,
// and makes a pushed request and a registration token.
func useFirstClient(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "first-client")
	if err != nil {
		t.Fatal(err)
	}
	c.Contacts = []string{"ops@first.example"}
	c.RequirePushedAuthorizationRequests = true
	c.RegisteredBy = "an administrator"
	if err := s.UpdateClient(ctx, c); err != nil {
		t.Fatalf("UpdateClient with the new fields: %v", err)
	}
	if got, err := s.ClientByID(ctx, "first-client"); err != nil || !got.RequirePushedAuthorizationRequests ||
		len(got.Contacts) != 1 || got.RegisteredBy != "an administrator" {
		t.Fatalf("first-client after the update = %+v, %v", got, err)
	}
	now := time.Now()
	if err := s.CreatePushedRequest(ctx, &storage.PushedRequest{ID: "p", ClientID: "first-client", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatalf("CreatePushedRequest: %v", err)
	}
	if err := s.CreateRegistrationToken(ctx, &storage.RegistrationToken{ID: "r", Hash: "h"}); err != nil {
		t.Fatalf("CreateRegistrationToken: %v", err)
	}
}

// wantRegisteredClients checks the rows of the second schema: the two
// clients (with their RFC 7591 metadata and PAR required if metadata),
// without an owner, a key or an access token format, and the access
// token, which no API key minted.
func wantRegisteredClients(t *testing.T, s *bunstore.Store, metadata bool) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"dcr-client", "dcr-other"} {
		c, err := s.ClientByID(ctx, id)
		if err != nil {
			t.Fatalf("ClientByID(%s): %v", id, err)
		}
		if c.Name != "Registered client" || c.SecretHash != "dcr-hash" || !c.SkipConsent || len(c.Scopes) != 1 {
			t.Errorf("%s lost data: %+v", id, c)
		}
		if (len(c.Contacts) == 1) != metadata || (c.RegisteredBy == "an administrator") != metadata ||
			c.RequirePushedAuthorizationRequests != metadata {
			t.Errorf("%s: contacts, registered_by and PAR = %q, %q, %v; want them set: %v",
				id, c.Contacts, c.RegisteredBy, c.RequirePushedAuthorizationRequests, metadata)
		}
		if c.OwnerID != "" || c.AccessTokenFormat != "" {
			t.Errorf("%s has an owner, a key or an access token format: %+v", id, c)
		}
	}
	req, err := s.GetAccessTokenSession(ctx, "dcr-at", &openid.DefaultSession{})
	if err != nil {
		t.Fatalf("GetAccessTokenSession(dcr-at): %v", err)
	}
	if req.GetID() != "dcr-req" || req.GetClient().GetID() != "dcr-client" || len(req.GetGrantedScopes()) != 1 ||
		req.GetSession().(*openid.DefaultSession).Username != "dcr" {
		t.Errorf("dcr-at lost data: %+v", req)
	}
	if got := rawStrings(t, s, "SELECT api_key_id FROM oauth2_access WHERE signature = '"+sha256Hex("dcr-at")+"'"); !slices.Equal(got, []string{""}) {
		t.Errorf("api_key_id of dcr-at = %q, want ''", got)
	}
}

// useRegisteredClients gives dcr-client an owner and an API key: the key's
// token goes with the key, dcr-at stays; deleting the owner keeps the
// client.
func useRegisteredClients(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	if list, err := s.ListClientsByOwner(ctx, "dcr-user"); err != nil || len(list) != 0 {
		t.Fatalf("ListClientsByOwner before any owner = %d clients, %v", len(list), err)
	}
	c, err := s.ClientByID(ctx, "dcr-client")
	if err != nil {
		t.Fatal(err)
	}
	c.OwnerID = "dcr-user"
	if err := s.UpdateClient(ctx, c); err != nil {
		t.Fatalf("UpdateClient with an owner: %v", err)
	}
	if list, err := s.ListClientsByOwner(ctx, "dcr-user"); err != nil || len(list) != 1 || list[0].ID != "dcr-client" {
		t.Fatalf("ListClientsByOwner = %v, %v; want dcr-client", list, err)
	}

	key := &storage.APIKey{ID: "ak-1", ClientID: "dcr-client", Scopes: []string{"read"}, SecretHash: "h", CreatedBy: "user:dcr-user"}
	if err := s.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if err := s.TouchAPIKey(ctx, "ak-1", time.Now()); err != nil {
		t.Fatalf("TouchAPIKey: %v", err)
	}
	req := &fosite.Request{ID: "new-req", Client: c, RequestedAt: time.Now(), Session: &keySession{KeyID: "ak-1"}}
	if err := s.CreateAccessTokenSession(ctx, "new-at", req); err != nil {
		t.Fatalf("CreateAccessTokenSession with a key: %v", err)
	}
	if err := s.RevokeAPIKey(ctx, "ak-1", time.Now()); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "new-at", &keySession{}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the revoked key's token: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "dcr-at", &openid.DefaultSession{}); err != nil {
		t.Errorf("dcr-at after revoking a key: %v", err)
	}
	if keys, err := s.ListAPIKeys(ctx, []string{"dcr-client"}); err != nil || len(keys) != 1 || keys[0].RevokedAt.IsZero() || keys[0].LastUsedAt.IsZero() {
		t.Errorf("ListAPIKeys(dcr-client) = %+v, %v", keys, err)
	}
	if err := s.AppendAuditEvents(ctx, conformance.NewAuditEvents("ev-", 3, time.Now())); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}

	if err := s.DeleteUser(ctx, "dcr-user"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if c, err := s.ClientByID(ctx, "dcr-client"); err != nil || c.OwnerID != "" {
		t.Fatalf("dcr-client after its owner was deleted = %+v, %v", c, err)
	}
}

// wantRegisteredRowsKept: back in the second schema, the clients still
// have their RFC 7591 metadata and require PAR, and dcr-client's only
// access token is dcr-at (the API key's went with the key).
func wantRegisteredRowsKept(t *testing.T, s *bunstore.Store) {
	t.Helper()
	const ids = "('dcr-client', 'dcr-other')"
	metadata := rawStrings(t, s, "SELECT contacts || '|' || registered_by FROM clients WHERE id IN "+ids+" ORDER BY id")
	if want := `["ops@dcr.example"]|an administrator`; !slices.Equal(metadata, []string{want, want}) {
		t.Errorf("contacts|registered_by after the down migrations = %q, want %q twice", metadata, want)
	}
	if n := rawCount(t, s, "SELECT count(*) FROM clients WHERE id IN "+ids+" AND require_pushed_authorization_requests"); n != 2 {
		t.Errorf("clients requiring PAR after the down migrations = %d, want 2", n)
	}
	if n := rawCount(t, s, "SELECT count(*) FROM oauth2_access WHERE client_id = 'dcr-client'"); n != 1 {
		t.Errorf("access tokens of dcr-client after the down migrations = %d; want dcr-at alone", n)
	}
}

// wantPasswordSessions checks the rows of the third schema that stay:
// sessions-user and their session, a password login with no AMR and no
// ACR, and no federated identity.
func wantPasswordSessions(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	created := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	u, err := s.UserByID(ctx, "sessions-user")
	if err != nil {
		t.Fatalf("UserByID(sessions-user): %v", err)
	}
	if u.Email != "sessions-user@example.com" || len(u.Roles) != 1 {
		t.Errorf("sessions-user lost data: %+v", u)
	}
	ls, err := s.LoginSession(ctx, "session-of-sessions-user")
	if err != nil {
		t.Fatalf("LoginSession(session-of-sessions-user): %v", err)
	}
	if ls.UserID != "sessions-user" || !ls.AuthTime.Equal(created) || !ls.CreatedAt.Equal(created) || !ls.ExpiresAt.Equal(fixtureExpiry) {
		t.Errorf("session-of-sessions-user lost data: %+v", ls)
	}
	if ls.AMR != nil || ls.ACR != "" {
		t.Errorf("session-of-sessions-user's AMR and ACR = %q, %q; want none", ls.AMR, ls.ACR)
	}
	if list, err := s.FederatedIdentitiesOfUser(ctx, "sessions-user"); err != nil || len(list) != 0 {
		t.Errorf("FederatedIdentitiesOfUser(sessions-user) = %d identities, %v; want none", len(list), err)
	}
}

// fixtureExpiry is when the fixtures' sessions and tokens expire.
var fixtureExpiry = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

// useSessionsForUpstreamSignIn: sessions with AMR and ACR, federated
// identities (their foreign key included) and upstream states work on the
// old users.
func useSessionsForUpstreamSignIn(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	fed := &storage.LoginSession{
		ID: "fed-session", UserID: "sessions-user", AuthTime: now, ExpiresAt: now.Add(time.Hour),
		AMR: []string{"fed"}, ACR: "corp",
	}
	if err := s.CreateLoginSession(ctx, fed); err != nil {
		t.Fatalf("CreateLoginSession with AMR: %v", err)
	}
	if got, err := s.LoginSession(ctx, "fed-session"); err != nil || !reflect.DeepEqual(got.AMR, []string{"fed"}) || got.ACR != "corp" {
		t.Fatalf("LoginSession with AMR = %+v, %v", got, err)
	}

	// Federated identities: created, touched, listed, refused for an
	// unknown user, and deleted with their user.
	for _, fi := range []*storage.FederatedIdentity{
		{UpstreamID: "corp", Subject: "s-1", UserID: "sessions-user", Email: "a@corp.example"},
		{UpstreamID: "corp", Subject: "s-2", UserID: "sessions-other"},
		{UpstreamID: "google", Subject: "s-1", UserID: "sessions-other"},
	} {
		if err := s.CreateFederatedIdentity(ctx, fi); err != nil {
			t.Fatalf("CreateFederatedIdentity %s/%s: %v", fi.UpstreamID, fi.Subject, err)
		}
	}
	if err := s.CreateFederatedIdentity(ctx, &storage.FederatedIdentity{UpstreamID: "corp", Subject: "s-9", UserID: "ghost"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CreateFederatedIdentity for an unknown user: %v, want ErrNotFound", err)
	}
	if err := s.TouchFederatedIdentity(ctx, "corp", "s-1", "b@corp.example", now); err != nil {
		t.Fatalf("TouchFederatedIdentity: %v", err)
	}
	if fi, err := s.FederatedIdentity(ctx, "corp", "s-1"); err != nil || fi.Email != "b@corp.example" || fi.LastLoginAt.IsZero() {
		t.Fatalf("FederatedIdentity after the touch = %+v, %v", fi, err)
	}
	if list, err := s.FederatedIdentitiesOfUser(ctx, "sessions-other"); err != nil || len(list) != 2 {
		t.Fatalf("FederatedIdentitiesOfUser(sessions-other) = %d identities, %v; want 2", len(list), err)
	}
	if err := s.DeleteUser(ctx, "sessions-other"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if n := rawCount(t, s, "SELECT count(*) FROM federated_identities WHERE user_id = 'sessions-other'"); n != 0 {
		t.Errorf("identities of the deleted user = %d; want 0", n)
	}
	if _, err := s.FederatedIdentity(ctx, "corp", "s-1"); err != nil {
		t.Errorf("the other user's identity after DeleteUser: %v", err)
	}

	// Upstream states: consumed once, purged when expired.
	st := &storage.UpstreamState{
		ID: "state-1", UpstreamID: "corp", BrowserHash: "bh", Nonce: "n", Sealed: []byte{0, 1, 2, 0xff},
		ExpiresAt: now.Add(10 * time.Minute),
	}
	if err := s.CreateUpstreamState(ctx, st); err != nil {
		t.Fatalf("CreateUpstreamState: %v", err)
	}
	if got, err := s.ConsumeUpstreamState(ctx, "state-1"); err != nil || !reflect.DeepEqual(got.Sealed, st.Sealed) || got.BrowserHash != "bh" {
		t.Fatalf("ConsumeUpstreamState = %+v, %v", got, err)
	}
	if _, err := s.ConsumeUpstreamState(ctx, "state-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second ConsumeUpstreamState: %v, want ErrNotFound", err)
	}
	if err := s.CreateUpstreamState(ctx, &storage.UpstreamState{ID: "state-2", UpstreamID: "corp", ExpiresAt: now.Add(-time.Minute)}); err != nil {
		t.Fatalf("CreateUpstreamState expired: %v", err)
	}
	// Nothing else in the database has expired.
	if n, err := s.DeleteExpired(ctx, now, 100); err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want the expired state", n, err)
	}
}

// wantSessionsKept: back in the third schema, sessions-user's two
// sessions are there (sessions-other's went with its user).
func wantSessionsKept(t *testing.T, s *bunstore.Store) {
	t.Helper()
	if n := rawCount(t, s, "SELECT count(*) FROM login_sessions WHERE user_id IN ('sessions-user', 'sessions-other')"); n != 2 {
		t.Errorf("login sessions after the down migrations = %d; want sessions-user's two", n)
	}
}

// oldKeys are the signing keys of the fourth schema's fixture, newest
// first.
func oldKeys() []*storage.SigningKey {
	key := func(kid, alg, state string, created, retired time.Time) *storage.SigningKey {
		return &storage.SigningKey{
			KID: kid, Algorithm: alg, State: state,
			PrivateKey: []byte("sealed\x00" + kid + "\xff"),
			PublicKey:  []byte(`{"kid":"` + kid + `"}`),
			CreatedAt:  created, ActivatedAt: created, RetiredAt: retired,
		}
	}
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return []*storage.SigningKey{
		key("old-es-current", "ES256", storage.KeyStateCurrent, day.Add(time.Minute), time.Time{}),
		key("old-rs-current", "RS256", storage.KeyStateCurrent, day, time.Time{}),
		key("old-rs-retired", "RS256", storage.KeyStateRetired, day.Add(-24*time.Hour), day),
	}
}

// wantSigningKeys checks the rows of the fourth schema: the client, with
// the default access token format, and the signing keys (the only ones in
// the database), unchanged and newest first.
func wantSigningKeys(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "keys-client")
	if err != nil {
		t.Fatalf("ClientByID(keys-client): %v", err)
	}
	if c.Name != "Keys client" || c.SecretHash != "keys-hash" || c.OwnerID != "keys-owner" || !c.SkipConsent || len(c.Scopes) != 1 {
		t.Errorf("keys-client lost data: %+v", c)
	}
	if c.AccessTokenFormat != "" {
		t.Errorf("keys-client's AccessTokenFormat = %q, want the default ''", c.AccessTokenFormat)
	}
	if got := rawStrings(t, s, "SELECT access_token_format FROM clients WHERE id = 'keys-client'"); !slices.Equal(got, []string{""}) {
		t.Errorf("access_token_format of keys-client = %q, want the default ''", got)
	}
	want := oldKeys()
	got, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("SigningKeys = %d keys, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.KID != w.KID || g.Algorithm != w.Algorithm || g.State != w.State ||
			string(g.PrivateKey) != string(w.PrivateKey) || string(g.PublicKey) != string(w.PublicKey) ||
			!g.CreatedAt.Equal(w.CreatedAt) || !g.ActivatedAt.Equal(w.ActivatedAt) || !g.RetiredAt.Equal(w.RetiredAt) {
			t.Errorf("signing key %d = %+v, want %+v", i, g, w)
		}
	}
}

// useSigningKeys: the access token format can be set on keys-client; the
// old keys rotate (one next key per algorithm, promoted once), are
// deleted and resealed; system keys work.
func useSigningKeys(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "keys-client")
	if err != nil {
		t.Fatal(err)
	}
	c.AccessTokenFormat = "opaque"
	if err := s.UpdateClient(ctx, c); err != nil {
		t.Fatalf("UpdateClient with an access token format: %v", err)
	}
	if got, err := s.ClientByID(ctx, "keys-client"); err != nil || got.AccessTokenFormat != "opaque" || got.OwnerID != "keys-owner" {
		t.Fatalf("keys-client after the update = %+v, %v", got, err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	next := &storage.SigningKey{KID: "new-rs-next", Algorithm: "RS256", State: storage.KeyStateNext, PrivateKey: []byte("p"), PublicKey: []byte("{}")}
	if err := s.CreateSigningKey(ctx, next); err != nil {
		t.Fatalf("CreateSigningKey next: %v", err)
	}
	second := &storage.SigningKey{KID: "new-rs-next-2", Algorithm: "RS256", State: storage.KeyStateNext, PrivateKey: []byte("p"), PublicKey: []byte("{}")}
	if err := s.CreateSigningKey(ctx, second); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateSigningKey of a second next key: %v, want ErrConflict", err)
	}
	if err := s.PromoteSigningKey(ctx, "RS256", "old-rs-current", "new-rs-next", now); err != nil {
		t.Fatalf("PromoteSigningKey of an old key: %v", err)
	}
	if err := s.PromoteSigningKey(ctx, "RS256", "old-rs-current", "new-rs-next", now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second PromoteSigningKey: %v, want ErrConflict", err)
	}
	if err := s.DeleteSigningKey(ctx, "old-rs-retired"); err != nil {
		t.Errorf("DeleteSigningKey of an old retired key: %v", err)
	}
	if err := s.DeleteSigningKey(ctx, "old-es-current"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteSigningKey of an old current key: %v, want ErrNotFound", err)
	}
	if err := s.ResealSigningKey(ctx, "old-es-current", []byte("resealed\x00")); err != nil {
		t.Errorf("ResealSigningKey of an old key: %v", err)
	}
	keys := map[string]*storage.SigningKey{}
	list, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		keys[k.KID] = k
	}
	if len(keys) != 3 || keys["old-rs-current"].State != storage.KeyStateRetired || !keys["old-rs-current"].RetiredAt.Equal(now) ||
		keys["new-rs-next"].State != storage.KeyStateCurrent || !keys["new-rs-next"].ActivatedAt.Equal(now) ||
		string(keys["old-es-current"].PrivateKey) != "resealed\x00" {
		t.Errorf("keys after the rotation = %+v", list)
	}

	if _, err := s.SystemKey(ctx, "hash-pepper"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SystemKey before any: %v, want ErrNotFound", err)
	}
	if err := s.CreateSystemKey(ctx, &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte{0, 1, 0xff}}); err != nil {
		t.Fatalf("CreateSystemKey: %v", err)
	}
	if err := s.CreateSystemKey(ctx, &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte{2}}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second CreateSystemKey: %v, want ErrConflict", err)
	}
	if err := s.ResealSystemKey(ctx, "hash-pepper", []byte{3, 0}); err != nil {
		t.Errorf("ResealSystemKey: %v", err)
	}
	if k, err := s.SystemKey(ctx, "hash-pepper"); err != nil || !reflect.DeepEqual(k.Sealed, []byte{3, 0}) {
		t.Errorf("SystemKey after the reseal = %+v, %v", k, err)
	}
}

// wantKeysKeptAndTwoNextKeysRefused: back in the fourth schema, the keys
// are there (their states are what its binary knows). A database that was
// given a second next key of one algorithm (by hand: no binary does)
// refuses the fifth migration as a whole, the unique index being
// impossible; the extra key is then deleted, so that the migrations apply
// again.
func wantKeysKeptAndTwoNextKeysRefused(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	if n := rawCount(t, s, "SELECT count(*) FROM signing_keys"); n != 3 {
		t.Errorf("signing keys after the down migrations = %d; want 3", n)
	}
	for _, kid := range []string{"by-hand-1", "by-hand-2"} {
		if _, err := s.WriterDB().NewRaw(`INSERT INTO signing_keys (kid, algorithm, state, private_key, public_key, created_at)
			VALUES (?, 'ES256', 'next', ?, '{}', ?)`, kid, []byte("p"), time.Now(),
		).Exec(ctx); err != nil {
			t.Fatalf("insert a next key by hand: %v", err)
		}
	}
	schema := schemaObjects(t, s)
	if err := s.Migrate(ctx); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Migrate with two next ES256 keys: %v, want ErrConflict", err)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
		t.Fatalf("CheckSchema after the failed migration: %v, want ErrSchemaNotMigrated", err)
	}
	wantSchema(t, s, schema, "after the failed migration")
	if _, err := s.WriterDB().NewRaw("DELETE FROM signing_keys WHERE kid = 'by-hand-2'").Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// wantKeysAfterRedo: the access token format went with its column, the
// keys are all there (by-hand-1 too), the system key went with its table.
func wantKeysAfterRedo(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	if got, err := s.ClientByID(ctx, "keys-client"); err != nil || got.AccessTokenFormat != "" || got.Name != "Keys client" {
		t.Errorf("keys-client after the down and up migrations = %+v, %v", got, err)
	}
	if list, err := s.SigningKeys(ctx); err != nil || len(list) != 4 {
		t.Errorf("SigningKeys after the down and up migrations = %d keys, %v; want 4", len(list), err)
	}
	if _, err := s.SystemKey(ctx, "hash-pepper"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SystemKey after the down and up migrations: %v, want ErrNotFound", err)
	}
}

// The lock of the sixth schema's fixture, and the browser that fails to
// sign in to its account after it.
var (
	oldLock        = storage.LoginThrottleKey{Account: "0123456789abcdef"}
	oldLockBrowser = storage.LoginThrottleKey{Account: "0123456789abcdef", Device: "laptop"}
	oldLockAt      = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	lockPolicy     = storage.LoginLockPolicy{MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour, FailureReset: time.Hour}
)

// wantOldLock: the lock holds after the upgrade, with no earlier locks
// counted.
func wantOldLock(t *testing.T, s *bunstore.Store) {
	t.Helper()
	th, err := s.LoginThrottle(context.Background(), oldLock)
	if err != nil || th.Failures != 5 || th.Locks != 0 || !th.LockedUntil.Equal(oldLockAt.Add(time.Minute)) {
		t.Errorf("the old lock after the upgrade = %+v, %v", th, err)
	}
}

// useOldLock: once the old lock ended, one failure does not lock again;
// known browsers' records live beside it and clear with it.
func useOldLock(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	th, counted, err := s.RecordLoginFailure(ctx, oldLock, oldLockAt.Add(time.Minute), lockPolicy)
	if err != nil || !counted || th.Failures != 1 || th.Locked(oldLockAt.Add(time.Minute)) {
		t.Fatalf("a failure after the old lock = %+v, %v, %v; want the first of a new count", th, counted, err)
	}
	if _, _, err := s.RecordLoginFailure(ctx, oldLockBrowser, oldLockAt, lockPolicy); err != nil {
		t.Fatalf("RecordLoginFailure of a browser: %v", err)
	}
	if th, devices, err := s.ClearAccountLoginThrottles(ctx, oldLock.Account); err != nil || th == nil || devices != 1 {
		t.Fatalf("ClearAccountLoginThrottles = %+v, %d, %v", th, devices, err)
	}
}

// wantOperatorClientsFirstParty: clients an operator made that were
// already allowed a management scope are first-party, so they keep
// working; a registered client never is, whatever it was allowed.
func wantOperatorClientsFirstParty(t *testing.T, s *bunstore.Store) {
	t.Helper()
	for id, want := range map[string]bool{
		"operator-admin": true, "operator-keys": true, "operator-plain": false,
		"registered-keys": false, "registered-admin": false,
	} {
		c, err := s.ClientByID(context.Background(), id)
		if err != nil {
			t.Errorf("ClientByID(%s): %v", id, err)
			continue
		}
		if c.FirstParty != want || c.IntrospectAnyToken || len(c.Resources) != 0 {
			t.Errorf("%s: first_party %v (want %v), %+v", id, c.FirstParty, want, c)
		}
	}
}

// wantTrustedClient checks the rows of the seventh schema: trusted-client
// is first-party, may introspect any token if introspectAny, serves
// resources, and its key was made through an app if keysVia is 1.
func wantTrustedClient(t *testing.T, s *bunstore.Store, introspectAny bool, resources []string, keysVia int) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "trusted-client")
	if err != nil || !c.FirstParty || c.IntrospectAnyToken != introspectAny || !slices.Equal(c.Resources, resources) {
		t.Errorf("trusted-client = %+v, %v; want first-party, introspecting any token %v, resources %q", c, err, introspectAny, resources)
	}
	if keys, err := s.APIKeysCreatedVia(ctx, "user:someone", "console"); err != nil || len(keys) != keysVia {
		t.Errorf("APIKeysCreatedVia(console) = %+v, %v; want %d", keys, err, keysVia)
	}
}

// wantFixturesOfKnownMigrations: every fixture in testdata names a known
// migration (a renamed migration takes its fixture along).
func wantFixturesOfKnownMigrations(t *testing.T, ms []migration) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "[0-9]*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".sql")
		base = strings.TrimSuffix(strings.TrimSuffix(base, "."+migrations.SQLite), "."+migrations.Postgres)
		if !slices.ContainsFunc(ms, func(m migration) bool { return m.String() == base }) {
			t.Errorf("fixture %s names no migration", f)
		}
	}
}

// fixtureSQL returns the fixture of m on dialect: testdata/<version>_<name>.sql,
// the rows both dialects take as they are, then
// testdata/<version>_<name>.<dialect>.sql, those whose literals differ.
func fixtureSQL(t *testing.T, dialect string, m migration) string {
	t.Helper()
	base := filepath.Join("testdata", m.String())
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return string(b)
	}
	shared := read(base + ".sql")
	own := map[string]string{}
	for _, d := range []string{migrations.SQLite, migrations.Postgres} {
		own[d] = read(base + "." + d + ".sql")
	}
	switch {
	case (own[migrations.SQLite] == "") != (own[migrations.Postgres] == ""):
		t.Fatalf("%s has a fixture for one dialect only", m)
	case shared == "" && own[dialect] == "":
		t.Fatalf("%s has no fixture: add %s.sql (and .%s.sql and .%s.sql for literals that differ) with rows as its binary writes them",
			m, base, migrations.SQLite, migrations.Postgres)
	}
	return shared + own[dialect]
}

// migrateDown runs the down file of m and forgets that m was applied, in
// one transaction, as an operator rolling back would.
func migrateDown(t *testing.T, s *bunstore.Store, dialect string, m migration) {
	t.Helper()
	ctx := context.Background()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	down, err := fs.ReadFile(fsys, m.String()+".tx.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.WriterDB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, string(down)); err != nil {
		_ = tx.Rollback()
		t.Fatalf("down migration %s: %v", m, err)
	}
	if _, err := tx.NewRaw("DELETE FROM bun_migrations WHERE name = ?", m.version).Exec(ctx); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit the down migration %s: %v", m, err)
	}
}

// wantSchema fails unless the store's schema is want.
func wantSchema(t *testing.T, s *bunstore.Store, want []string, when string) {
	t.Helper()
	if got := schemaObjects(t, s); !slices.Equal(got, want) {
		t.Errorf("schema %s differs from the expected one by %q (\"drop x\": x is missing)", when, schemaChanges(want, got))
	}
}

// schemaChanges describes how schema after differs from before: "table t"
// for a new table, "column t.c" and "index i" for a new column or index of
// a table that was there before, each with "drop " in front when it went
// instead; sorted.
func schemaChanges(before, after []string) []string {
	changes := append(objectsAdded(before, after, ""), objectsAdded(after, before, "drop ")...)
	slices.Sort(changes)
	return changes
}

// objectsAdded lists, with prefix in front, the objects of to that from
// lacks, leaving out the columns and indexes of the tables from lacks.
func objectsAdded(from, to []string, prefix string) []string {
	had := map[string]bool{}
	for _, o := range from {
		had[o] = true
	}
	var out []string
	for _, o := range to {
		if had[o] {
			continue
		}
		kind, rest, _ := strings.Cut(o, " ")
		switch kind {
		case "column":
			if table, _, _ := strings.Cut(rest, "."); !had["table "+table] {
				continue
			}
		case "index":
			name, table, _ := strings.Cut(rest, " on ")
			if !had["table "+table] {
				continue
			}
			o = "index " + name
		}
		out = append(out, prefix+o)
	}
	return out
}

// rawCount runs a SELECT count(*) query.
func rawCount(t *testing.T, s *bunstore.Store, query string) int {
	t.Helper()
	var n int
	if err := s.WriterDB().NewRaw(query).Scan(context.Background(), &n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// rawStrings runs a query of one text column.
func rawStrings(t *testing.T, s *bunstore.Store, query string) []string {
	t.Helper()
	var out []string
	if err := s.WriterDB().NewRaw(query).Scan(context.Background(), &out); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// TestMigrationsAreKnownByVersion: a database records a migration by its
// version alone, so the words after the version in a migration's file
// name can change without a database noticing.
//
// bun/migrate (v1.3.0, migrate/migrations.go) splits a file name
// <version>_<words>.tx.up.sql into Migration.Name, the version, and
// Migration.Comment, the words, which is never stored (`bun:"-"`);
// bun_migrations holds id, name (the version), group_id and migrated_at,
// and the migrator (migrationsWithStatus, MarkApplied's upsert on name)
// and this store (schemaState, checkNotApplied, recordApplied) match
// applied migrations to files by that name. The words are only logged.
//
// testdata/bun_migrations_30dfc42.<dialect>.sql holds the bookkeeping rows
// of a database that `gatehouse migrate` of commit 30dfc42 migrated, when
// the files were named ..._issue3 to ..._issue7; their statements have not
// changed since. The test builds the tables with those statements, puts
// the recorded rows in place of its own bookkeeping, and checks that this
// binary sees all of them as applied (nothing is re-applied or rewritten)
// and, on a database whose two newest rows are gone (one that an older
// release migrated), that it applies exactly the later migrations.
func TestMigrationsAreKnownByVersion(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ms := knownMigrations(t, dialect)
		recorded, err := os.ReadFile(filepath.Join("testdata", "bun_migrations_30dfc42."+dialect+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		const recordedCount = 8 // the migrations commit 30dfc42 had
		for _, n := range []int{recordedCount, recordedCount - 2} {
			t.Run(fmt.Sprintf("%d applied", n), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s := openUnmigrated(t, dialect)
				newest := ms[n-1].version
				if err := s.MigrateTo(ctx, newest); err != nil {
					t.Fatalf("apply the migrations up to %s: %v", newest, err)
				}
				db := s.WriterDB()
				if _, err := db.ExecContext(ctx, "DELETE FROM bun_migrations"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, string(recorded)); err != nil {
					t.Fatalf("insert the recorded rows: %v", err)
				}
				if _, err := db.NewRaw("DELETE FROM bun_migrations WHERE name > ?", newest).Exec(ctx); err != nil {
					t.Fatal(err)
				}
				before := appliedMigrations(t, s)
				if len(before) != n {
					t.Fatalf("recorded rows up to %s = %q, want %d", newest, before, n)
				}
				schema := schemaObjects(t, s)

				if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != n || known != len(ms) {
					t.Fatalf("SchemaStatus = %d, %d, %v; want %d, %d", applied, known, err, n, len(ms))
				}
				err := s.CheckSchema(ctx)
				if n == len(ms) && err != nil {
					t.Fatalf("CheckSchema on the recorded rows: %v", err)
				}
				if n < len(ms) && !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
					t.Fatalf("CheckSchema on the recorded rows: %v, want ErrSchemaNotMigrated", err)
				}
				if err := s.Migrate(ctx); err != nil {
					t.Fatalf("Migrate on the recorded rows: %v", err)
				}
				if err := s.CheckSchema(ctx); err != nil {
					t.Fatalf("CheckSchema after Migrate: %v", err)
				}
				after := appliedMigrations(t, s)
				if len(after) != len(ms) || !slices.Equal(after[:n], before) {
					t.Fatalf("bookkeeping after Migrate = %q, want the recorded %q and then the later migrations", after, before)
				}
				for i, row := range after[n:] {
					if _, name, _ := strings.Cut(row, " "); !strings.HasPrefix(name, ms[n+i].version+" ") {
						t.Errorf("migration applied after the recorded ones: %q, want %s", row, ms[n+i].version)
					}
				}
				if n == len(ms) && !slices.Equal(schemaObjects(t, s), schema) {
					t.Errorf("Migrate changed the schema of a migrated database")
				}
			})
		}
	})
}

// migration is one version of the embedded migrations: the files
// <version>_<name>.tx.up.sql and .tx.down.sql.
type migration struct{ version, name string }

func (m migration) String() string { return m.version + "_" + m.name }

var migrationFile = regexp.MustCompile(`^(\d+)_([0-9a-z_-]+)\.tx\.up\.sql$`)

// knownMigrations lists the migrations of dialect, oldest first.
func knownMigrations(t *testing.T, dialect string) []migration {
	t.Helper()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := fs.Glob(fsys, "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var ms []migration
	for _, up := range ups {
		m := migrationFile.FindStringSubmatch(up)
		if m == nil {
			t.Fatalf("migration file %s is not named <version>_<name>.tx.up.sql", up)
		}
		ms = append(ms, migration{version: m[1], name: m[2]})
	}
	slices.SortFunc(ms, func(a, b migration) int { return strings.Compare(a.version, b.version) })
	return ms
}

// openUnmigrated opens a fresh, empty database of dialect; it is closed
// when the test ends.
func openUnmigrated(t *testing.T, dialect string) *bunstore.Store {
	t.Helper()
	s, err := bunstore.Open(context.Background(), bunstoretest.NewDSN(t, dialect),
		bunstore.Options{ClientCacheTTL: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appliedMigrations returns the rows of bun_migrations as "id name
// group_id", by id.
func appliedMigrations(t *testing.T, s *bunstore.Store) []string {
	t.Helper()
	var rows []struct {
		ID      int64
		Name    string
		GroupID int64
	}
	if err := s.WriterDB().NewRaw("SELECT id, name, group_id FROM bun_migrations ORDER BY id").
		Scan(context.Background(), &rows); err != nil {
		t.Fatalf("read bun_migrations: %v", err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d %s %d", r.ID, r.Name, r.GroupID))
	}
	return out
}

// schemaObjects lists the tables, columns and indexes of the store's
// database, bun/migrate's own tables aside, as "table t", "column t.c" and "index i
// on t", sorted.
func schemaObjects(t *testing.T, s *bunstore.Store) []string {
	t.Helper()
	db := s.WriterDB()
	var q string
	switch db.Dialect().Name() {
	case bundialect.SQLite:
		q = `SELECT 'table ' || name FROM sqlite_master
			WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'bun_migration%'
		UNION ALL SELECT 'column ' || m.name || '.' || c.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name NOT LIKE 'bun_migration%'
		UNION ALL SELECT 'index ' || name || ' on ' || tbl_name FROM sqlite_master
			WHERE type = 'index' AND name NOT LIKE 'sqlite%' AND tbl_name NOT LIKE 'bun_migration%'`
	default:
		// One scan of pg_class, which has no index on the schema alone.
		q = `WITH t AS (SELECT c.oid, c.relname FROM pg_class AS c
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname NOT LIKE 'bun_migration%')
		SELECT 'table ' || t.relname FROM t
		UNION ALL SELECT 'column ' || t.relname || '.' || a.attname FROM t JOIN pg_attribute AS a ON a.attrelid = t.oid
			WHERE a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT 'index ' || i.relname || ' on ' || t.relname FROM t
			JOIN pg_index AS x ON x.indrelid = t.oid JOIN pg_class AS i ON i.oid = x.indexrelid`
	}
	var objects []string
	if err := db.NewRaw(q).Scan(context.Background(), &objects); err != nil {
		t.Fatalf("read the schema: %v", err)
	}
	slices.Sort(objects)
	return objects
}

// wantRequestObjectAlg checks the request object algorithm of the
// fixture's jar-client.
func wantRequestObjectAlg(t *testing.T, s *bunstore.Store, alg string) {
	t.Helper()
	c, err := s.ClientByID(context.Background(), "jar-client")
	if err != nil || c.RequestObjectSigningAlg != alg {
		t.Errorf("jar-client = %+v, %v; want request_object_signing_alg %q", c, err, alg)
	}
}
