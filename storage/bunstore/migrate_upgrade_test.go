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
	"github.com/uptrace/bun"
	bundialect "github.com/uptrace/bun/dialect"

	"github.com/gatehouse-dev/gatehouse/migrations"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

const (
	migrationInit   = "20261127000001"
	migrationIssue3 = "20261127000002"
	migrationIssue4 = "20261127000003"
	migrationIssue5 = "20261127000004"
	migrationIssue6 = "20261127000005"
	migrationIssue7 = "20261127000006"
	// migrationClientTrust adds first_party, introspect_any_token and
	// resources to clients and created_via to API keys.
	migrationClientTrust = "20261207000001"
	// migrationLoginDevices adds lock counts and known browsers' records
	// to login_throttles.
	migrationLoginDevices = "20261207000002"
)

// migrateDown runs the down file of the migration version_name and
// forgets that it was applied, as an operator rolling back would.
func migrateDown(t *testing.T, s *bunstore.Store, dialect, version, name string) {
	t.Helper()
	ctx := context.Background()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	down, err := fs.ReadFile(fsys, version+"_"+name+".tx.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.WriterDB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, string(down)); err != nil {
		_ = tx.Rollback()
		t.Fatalf("down migration %s: %v", version, err)
	}
	if _, err := tx.NewRaw("DELETE FROM bun_migrations WHERE name = ?", version).Exec(ctx); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit the down migration %s: %v", version, err)
	}
}

// wantNoTables fails if any of the tables exists.
func wantNoTables(t *testing.T, s *bunstore.Store, tables ...string) {
	t.Helper()
	for _, table := range tables {
		var n int
		if err := s.WriterDB().NewRaw("SELECT count(*) FROM ?", bun.Ident(table)).Scan(context.Background(), &n); err == nil {
			t.Errorf("table %s survived the down migration", table)
		}
	}
}

// wantNoColumns fails if any of the table.column pairs exists.
func wantNoColumns(t *testing.T, s *bunstore.Store, columns ...string) {
	t.Helper()
	for _, tc := range columns {
		table, column, _ := strings.Cut(tc, ".")
		var n int
		// Qualified, because SQLite reads an unknown double-quoted name
		// alone as a string.
		if err := s.WriterDB().NewRaw("SELECT count(?.?) FROM ?", bun.Ident(table), bun.Ident(column), bun.Ident(table)).
			Scan(context.Background(), &n); err == nil {
			t.Errorf("column %s survived the down migration", tc)
		}
	}
}

// A database created and filled by a binary that knew only the first
// migration takes the later ones, and what it held still loads, with the
// new client fields at their defaults. The down files, newest first, undo
// them, and they apply again after that.
func TestMigrateFromTheFirstSchema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()

		if err := s.MigrateTo(ctx, migrationInit); err != nil {
			t.Fatalf("apply the first migration: %v", err)
		}
		if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != 1 || known < 2 {
			t.Fatalf("SchemaStatus after the first migration = %d, %d, %v", applied, known, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema: %v, want ErrSchemaNotMigrated", err)
		}

		// Rows as the old binary wrote them: only the columns it knew.
		created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		db := s.WriterDB()
		if _, err := db.NewRaw(`INSERT INTO clients
			(id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, allowed_origins,
			 public, token_endpoint_auth_method, skip_consent, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			"old-client", "old-hash", "Old client", `["https://old.example/cb"]`, `["authorization_code"]`,
			`["code"]`, `["openid"]`, `["https://old.example"]`, false, "client_secret_post", true, created, created,
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old client: %v", err)
		}
		if _, err := db.NewRaw(`INSERT INTO users (id, email, name, roles, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			"old-user", "old@example.com", "Old user", `["admin"]`, created, created,
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old user: %v", err)
		}

		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate to the current schema: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		wantOldRows(t, s)

		// The new columns work on the migrated database.
		c, err := s.ClientByID(ctx, "old-client")
		if err != nil {
			t.Fatal(err)
		}
		c.Contacts = []string{"ops@old.example"}
		c.RequirePushedAuthorizationRequests = true
		c.RegisteredBy = "an administrator"
		if err := s.UpdateClient(ctx, c); err != nil {
			t.Fatalf("UpdateClient with the new fields: %v", err)
		}
		if got, err := s.ClientByID(ctx, "old-client"); err != nil || !got.RequirePushedAuthorizationRequests ||
			len(got.Contacts) != 1 || got.RegisteredBy != "an administrator" {
			t.Fatalf("client after the update = %+v, %v", got, err)
		}
		now := time.Now()
		if err := s.CreatePushedRequest(ctx, &storage.PushedRequest{ID: "p", ClientID: "old-client", ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatalf("CreatePushedRequest: %v", err)
		}
		if err := s.CreateRegistrationToken(ctx, &storage.RegistrationToken{ID: "r", Hash: "h"}); err != nil {
			t.Fatalf("CreateRegistrationToken: %v", err)
		}

		// Down (the newest migration first), then up again.
		migrateDown(t, s, dialect, migrationIssue6, "token_format_key_rotation_system_keys")
		migrateDown(t, s, dialect, migrationIssue5, "upstream_sign_in")
		migrateDown(t, s, dialect, migrationIssue4, "client_owners_api_keys_audit")
		migrateDown(t, s, dialect, migrationIssue3, "registration_and_par")
		wantNoTables(t, s, "system_keys", "federated_identities", "upstream_states", "api_keys", "audit_events",
			"pushed_requests", "registration_tokens")
		wantNoColumns(t, s, "clients.access_token_format", "login_sessions.amr", "login_sessions.acr", "clients.owner_id",
			"oauth2_access.api_key_id", "clients.contacts")
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		wantOldRows(t, s)
	})
}

// wantOldRows checks the rows TestMigrateFromTheFirstSchema inserted
// through the first schema.
func wantOldRows(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "old-client")
	if err != nil {
		t.Fatalf("ClientByID of an old client: %v", err)
	}
	if c.Name != "Old client" || c.SecretHash != "old-hash" || !c.SkipConsent ||
		c.TokenEndpointAuthMethod != "client_secret_post" || len(c.RedirectURIs) != 1 || len(c.AllowedOrigins) != 1 {
		t.Errorf("old client lost data: %+v", c)
	}
	if c.LogoURI != "" || c.ClientURI != "" || c.PolicyURI != "" || c.TosURI != "" || c.Contacts != nil ||
		c.JWKS != "" || c.JWKSURI != "" || c.TokenEndpointAuthSigningAlg != "" ||
		c.RegistrationAccessTokenHash != "" || c.RegisteredBy != "" || c.RequirePushedAuthorizationRequests ||
		c.OwnerID != "" || c.APIKeyID != "" || c.AccessTokenFormat != "" {
		t.Errorf("old client's new fields are not at their defaults: %+v", c)
	}
	if ok, err := s.ClientOriginAllowed(ctx, "https://old.example"); err != nil || !ok {
		t.Errorf("ClientOriginAllowed of the old client's origin = %v, %v", ok, err)
	}
	list, err := s.ListClients(ctx, storage.Page{})
	if err != nil || len(list) != 1 {
		t.Errorf("ListClients = %d clients, %v", len(list), err)
	}
	u, err := s.UserByID(ctx, "old-user")
	if err != nil {
		t.Fatalf("UserByID of an old user: %v", err)
	}
	if u.Email != "old@example.com" || u.Name != "Old user" || len(u.Roles) != 1 {
		t.Errorf("old user lost data: %+v", u)
	}
	users, err := s.ListUsers(ctx, storage.Page{After: "old-user"})
	if err != nil || len(users) != 0 {
		t.Errorf("ListUsers after the only user = %d users, %v", len(users), err)
	}
}

// A database created and filled by a binary that knew the first two
// migrations takes the later ones: its clients have no owner, its access
// tokens were minted by no API key (revoking a key leaves them alone), and
// API keys, ownership and the audit trail work on it. The down files,
// newest first, undo the later migrations, and they apply again after
// that.
func TestMigrateFromTheIssue3Schema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()

		if err := s.MigrateTo(ctx, migrationIssue3); err != nil {
			t.Fatalf("apply the first two migrations: %v", err)
		}
		if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != 2 || known < 3 {
			t.Fatalf("SchemaStatus after two migrations = %d, %d, %v", applied, known, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema: %v, want ErrSchemaNotMigrated", err)
		}

		// Rows as the old binary wrote them.
		created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		db := s.WriterDB()
		for _, id := range []string{"old-client", "old-other"} {
			if _, err := db.NewRaw(`INSERT INTO clients
				(id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, allowed_origins,
				 public, token_endpoint_auth_method, skip_consent, contacts, registered_by,
				 require_pushed_authorization_requests, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, "old-hash", "Old client", `["https://old.example/cb"]`, `["client_credentials"]`,
				`[]`, `["read"]`, `["https://old.example"]`, false, "client_secret_basic", true,
				`["ops@old.example"]`, "an administrator", true, created, created,
			).Exec(ctx); err != nil {
				t.Fatalf("insert an old client: %v", err)
			}
		}
		if _, err := db.NewRaw(`INSERT INTO users (id, email, name, roles, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			"old-user", "old@example.com", "Old user", `["admin"]`, created, created,
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old user: %v", err)
		}
		expires := time.Now().Add(time.Hour).UTC()
		if _, err := db.NewRaw(`INSERT INTO oauth2_access
			(signature, request_id, client_id, subject, requested_at, expires_at, granted_scopes, form, session)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sha256Hex("old-at"), "old-req", "old-client", "", created, expires, `["read"]`, "grant_type=client_credentials",
			[]byte(`{"subject":"","username":"old"}`),
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old access token: %v", err)
		}

		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate to the current schema: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		wantIssue3Rows(t, s)

		// Ownership on the migrated database.
		if list, err := s.ListClientsByOwner(ctx, "old-user"); err != nil || len(list) != 0 {
			t.Fatalf("ListClientsByOwner before any owner = %d clients, %v", len(list), err)
		}
		c, err := s.ClientByID(ctx, "old-client")
		if err != nil {
			t.Fatal(err)
		}
		c.OwnerID = "old-user"
		if err := s.UpdateClient(ctx, c); err != nil {
			t.Fatalf("UpdateClient with an owner: %v", err)
		}
		if list, err := s.ListClientsByOwner(ctx, "old-user"); err != nil || len(list) != 1 || list[0].ID != "old-client" {
			t.Fatalf("ListClientsByOwner = %v, %v; want old-client", list, err)
		}

		// API keys: a key's tokens go with it, the old token stays.
		key := &storage.APIKey{ID: "ak-1", ClientID: "old-client", Scopes: []string{"read"}, SecretHash: "h", CreatedBy: "user:old-user"}
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
		if _, err := s.GetAccessTokenSession(ctx, "old-at", &openid.DefaultSession{}); err != nil {
			t.Errorf("the old token after revoking a key: %v", err)
		}
		if keys, err := s.ListAPIKeys(ctx, nil); err != nil || len(keys) != 1 || keys[0].RevokedAt.IsZero() || keys[0].LastUsedAt.IsZero() {
			t.Errorf("ListAPIKeys = %+v, %v", keys, err)
		}
		if err := s.AppendAuditEvents(ctx, conformance.NewAuditEvents("ev-", 3, time.Now())); err != nil {
			t.Fatalf("AppendAuditEvents: %v", err)
		}

		// Deleting the owner keeps the client.
		if err := s.DeleteUser(ctx, "old-user"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if c, err := s.ClientByID(ctx, "old-client"); err != nil || c.OwnerID != "" {
			t.Fatalf("client after its owner was deleted = %+v, %v", c, err)
		}

		// Down (the newest migration first), then up again: the old rows
		// are intact.
		migrateDown(t, s, dialect, migrationIssue6, "token_format_key_rotation_system_keys")
		migrateDown(t, s, dialect, migrationIssue5, "upstream_sign_in")
		migrateDown(t, s, dialect, migrationIssue4, "client_owners_api_keys_audit")
		wantNoTables(t, s, "system_keys", "federated_identities", "upstream_states", "api_keys", "audit_events")
		wantNoColumns(t, s, "clients.access_token_format", "login_sessions.amr", "login_sessions.acr", "clients.owner_id",
			"oauth2_access.api_key_id")
		var n int
		if err := db.NewRaw("SELECT count(*) FROM oauth2_access").Scan(ctx, &n); err != nil || n != 1 {
			t.Errorf("access tokens after the down migration = %d, %v; want the old one", n, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		wantIssue3Rows(t, s)
	})
}

// wantIssue3Rows checks the rows TestMigrateFromTheIssue3Schema inserted
// through the second schema.
func wantIssue3Rows(t *testing.T, s *bunstore.Store) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"old-client", "old-other"} {
		c, err := s.ClientByID(ctx, id)
		if err != nil {
			t.Fatalf("ClientByID of an old client: %v", err)
		}
		if c.Name != "Old client" || c.SecretHash != "old-hash" || !c.SkipConsent || len(c.Contacts) != 1 ||
			c.RegisteredBy != "an administrator" || !c.RequirePushedAuthorizationRequests || len(c.Scopes) != 1 {
			t.Errorf("old client lost data: %+v", c)
		}
		if c.OwnerID != "" || c.APIKeyID != "" || c.AccessTokenFormat != "" {
			t.Errorf("old client has an owner, a key or an access token format: %+v", c)
		}
	}
	if list, err := s.ListClients(ctx, storage.Page{}); err != nil || len(list) != 2 {
		t.Errorf("ListClients = %d clients, %v", len(list), err)
	}
	if u, err := s.UserByID(ctx, "old-user"); err == nil && (u.Email != "old@example.com" || len(u.Roles) != 1) {
		t.Errorf("old user lost data: %+v", u)
	}
	req, err := s.GetAccessTokenSession(ctx, "old-at", &openid.DefaultSession{})
	if err != nil {
		t.Fatalf("GetAccessTokenSession of the old token: %v", err)
	}
	if req.GetID() != "old-req" || req.GetClient().GetID() != "old-client" || len(req.GetGrantedScopes()) != 1 ||
		req.GetSession().(*openid.DefaultSession).Username != "old" {
		t.Errorf("old token lost data: %+v", req)
	}
	var keyIDs []string
	if err := s.WriterDB().NewRaw("SELECT api_key_id FROM oauth2_access WHERE signature = ?", sha256Hex("old-at")).Scan(ctx, &keyIDs); err != nil {
		t.Fatal(err)
	}
	if len(keyIDs) != 1 || keyIDs[0] != "" {
		t.Errorf("api_key_id of the old token = %q, want ''", keyIDs)
	}
}

// A database created and filled by a binary that knew the first three
// migrations takes the fourth: its login sessions were password logins
// without recorded methods (no AMR, no ACR), and federated identities and
// upstream states work on it, their foreign key included. The fourth
// migration's down file undoes it, and it applies again after that.
func TestMigrateFromTheIssue4Schema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()

		if err := s.MigrateTo(ctx, migrationIssue4); err != nil {
			t.Fatalf("apply the first three migrations: %v", err)
		}
		if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != 3 || known < 4 {
			t.Fatalf("SchemaStatus after three migrations = %d, %d, %v", applied, known, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema: %v, want ErrSchemaNotMigrated", err)
		}

		// Rows as the old binary wrote them.
		created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		db := s.WriterDB()
		for _, id := range []string{"old-user", "old-other"} {
			if _, err := db.NewRaw(`INSERT INTO users (id, email, name, roles, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				id, id+"@example.com", "Old user", `["admin"]`, created, created,
			).Exec(ctx); err != nil {
				t.Fatalf("insert an old user: %v", err)
			}
			if _, err := db.NewRaw(`INSERT INTO login_sessions (id, user_id, auth_time, expires_at, created_at)
				VALUES (?, ?, ?, ?, ?)`,
				"session-of-"+id, id, created, expires, created,
			).Exec(ctx); err != nil {
				t.Fatalf("insert an old login session: %v", err)
			}
		}

		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate to the current schema: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		wantIssue4Rows(t, s, expires)
		var stored []string
		if err := db.NewRaw("SELECT amr || '|' || acr FROM login_sessions ORDER BY id").Scan(ctx, &stored); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored, []string{"[]|", "[]|"}) {
			t.Errorf("amr|acr of the old sessions = %q, want the defaults []|", stored)
		}

		// Sessions with AMR and ACR on the migrated database.
		now := time.Now()
		fed := &storage.LoginSession{
			ID: "fed-session", UserID: "old-user", AuthTime: now, ExpiresAt: now.Add(time.Hour),
			AMR: []string{"fed"}, ACR: "corp",
		}
		if err := s.CreateLoginSession(ctx, fed); err != nil {
			t.Fatalf("CreateLoginSession with AMR: %v", err)
		}
		if got, err := s.LoginSession(ctx, "fed-session"); err != nil || !reflect.DeepEqual(got.AMR, []string{"fed"}) || got.ACR != "corp" {
			t.Fatalf("LoginSession with AMR = %+v, %v", got, err)
		}

		// Federated identities of the old users: created, touched, listed,
		// refused for an unknown user, and deleted with their user.
		for _, fi := range []*storage.FederatedIdentity{
			{UpstreamID: "corp", Subject: "s-1", UserID: "old-user", Email: "a@corp.example"},
			{UpstreamID: "corp", Subject: "s-2", UserID: "old-other"},
			{UpstreamID: "google", Subject: "s-1", UserID: "old-other"},
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
		if list, err := s.FederatedIdentitiesOfUser(ctx, "old-other"); err != nil || len(list) != 2 {
			t.Fatalf("FederatedIdentitiesOfUser(old-other) = %d identities, %v; want 2", len(list), err)
		}
		if err := s.DeleteUser(ctx, "old-other"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		var n int
		if err := db.NewRaw("SELECT count(*) FROM federated_identities WHERE user_id = ?", "old-other").Scan(ctx, &n); err != nil || n != 0 {
			t.Errorf("identities of the deleted user = %d, %v; want 0", n, err)
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
		if n, err := s.DeleteExpired(ctx, now, 100); err != nil || n != 1 {
			t.Errorf("DeleteExpired = %d, %v; want the expired state", n, err)
		}

		// Down (the newest migration first), then up again: the old rows
		// are intact, and the sessions made meanwhile lose their AMR and
		// ACR with the columns.
		migrateDown(t, s, dialect, migrationIssue6, "token_format_key_rotation_system_keys")
		migrateDown(t, s, dialect, migrationIssue5, "upstream_sign_in")
		wantNoTables(t, s, "system_keys", "federated_identities", "upstream_states")
		wantNoColumns(t, s, "clients.access_token_format", "login_sessions.amr", "login_sessions.acr")
		if err := db.NewRaw("SELECT count(*) FROM login_sessions").Scan(ctx, &n); err != nil || n != 2 {
			t.Errorf("login sessions after the down migration = %d, %v; want old-user's two", n, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		wantIssue4Rows(t, s, expires)
		if got, err := s.LoginSession(ctx, "fed-session"); err != nil || len(got.AMR) != 0 || got.ACR != "" {
			t.Errorf("LoginSession made before the down migration = %+v, %v; want no AMR and ACR", got, err)
		}
	})
}

// wantIssue4Rows checks the rows TestMigrateFromTheIssue4Schema inserted
// through the third schema that stay: old-user and their session, which
// has no AMR and no ACR.
func wantIssue4Rows(t *testing.T, s *bunstore.Store, expires time.Time) {
	t.Helper()
	ctx := context.Background()
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	u, err := s.UserByID(ctx, "old-user")
	if err != nil {
		t.Fatalf("UserByID of an old user: %v", err)
	}
	if u.Email != "old-user@example.com" || len(u.Roles) != 1 {
		t.Errorf("old user lost data: %+v", u)
	}
	ls, err := s.LoginSession(ctx, "session-of-old-user")
	if err != nil {
		t.Fatalf("LoginSession of an old session: %v", err)
	}
	if ls.UserID != "old-user" || !ls.AuthTime.Equal(created) || !ls.CreatedAt.Equal(created) || !ls.ExpiresAt.Equal(expires) {
		t.Errorf("old session lost data: %+v", ls)
	}
	if ls.AMR != nil || ls.ACR != "" {
		t.Errorf("old session's AMR and ACR = %q, %q; want none", ls.AMR, ls.ACR)
	}
	if list, err := s.FederatedIdentitiesOfUser(ctx, "old-user"); err != nil || len(list) != 0 {
		t.Errorf("FederatedIdentitiesOfUser(old-user) = %d identities, %v; want none", len(list), err)
	}
}

// A database created and filled by a binary that knew the first four
// migrations takes the fifth: its clients follow the server's default
// access token format, its signing keys (that binary made only current
// ones, retired later) keep loading and can be rotated, deleted and
// resealed, and system keys work on it. The fifth migration's down file
// undoes it, and it applies again after that. A database that was given a
// second next key of one algorithm meanwhile (by hand: no binary does)
// refuses the migration as a whole, until the extra key is gone.
func TestMigrateFromTheIssue5Schema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()

		if err := s.MigrateTo(ctx, migrationIssue5); err != nil {
			t.Fatalf("apply the first four migrations: %v", err)
		}
		if applied, known, err := s.SchemaStatus(ctx); err != nil || applied != 4 || known < 5 {
			t.Fatalf("SchemaStatus after four migrations = %d, %d, %v", applied, known, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema: %v, want ErrSchemaNotMigrated", err)
		}

		// Rows as the old binary wrote them.
		db := s.WriterDB()
		if _, err := db.NewRaw(`INSERT INTO clients
			(id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, allowed_origins,
			 public, token_endpoint_auth_method, skip_consent, owner_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			"old-client", "old-hash", "Old client", `["https://old.example/cb"]`, `["authorization_code"]`,
			`["code"]`, `["openid"]`, `[]`, false, "client_secret_basic", true, "old-user", issue5Created, issue5Created,
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old client: %v", err)
		}
		for _, k := range issue5Keys() {
			if _, err := db.NewRaw(`INSERT INTO signing_keys
				(kid, algorithm, state, private_key, public_key, created_at, activated_at, retired_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				k.KID, k.Algorithm, k.State, k.PrivateKey, string(k.PublicKey), k.CreatedAt, k.ActivatedAt, nullTime(k.RetiredAt),
			).Exec(ctx); err != nil {
				t.Fatalf("insert an old signing key: %v", err)
			}
		}

		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate to the current schema: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		wantIssue5Rows(t, s, issue5Keys())
		var formats []string
		if err := db.NewRaw("SELECT access_token_format FROM clients").Scan(ctx, &formats); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(formats, []string{""}) {
			t.Errorf("access_token_format of the old client = %q, want the default ''", formats)
		}

		// The access token format on the migrated database.
		c, err := s.ClientByID(ctx, "old-client")
		if err != nil {
			t.Fatal(err)
		}
		c.AccessTokenFormat = "opaque"
		if err := s.UpdateClient(ctx, c); err != nil {
			t.Fatalf("UpdateClient with an access token format: %v", err)
		}
		if got, err := s.ClientByID(ctx, "old-client"); err != nil || got.AccessTokenFormat != "opaque" || got.OwnerID != "old-user" {
			t.Fatalf("client after the update = %+v, %v", got, err)
		}

		// The old keys rotate: one next key per algorithm, promoted once.
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

		// System keys on the migrated database.
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

		// Down: the new table and column go, the keys stay (their states
		// are what the older binary knows), and the index no longer holds.
		migrateDown(t, s, dialect, migrationIssue6, "token_format_key_rotation_system_keys")
		wantNoTables(t, s, "system_keys")
		wantNoColumns(t, s, "clients.access_token_format")
		var n int
		if err := db.NewRaw("SELECT count(*) FROM signing_keys").Scan(ctx, &n); err != nil || n != 3 {
			t.Errorf("signing keys after the down migration = %d, %v; want 3", n, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		for _, kid := range []string{"by-hand-1", "by-hand-2"} {
			if _, err := db.NewRaw(`INSERT INTO signing_keys (kid, algorithm, state, private_key, public_key, created_at)
				VALUES (?, 'ES256', 'next', ?, '{}', ?)`, kid, []byte("p"), now,
			).Exec(ctx); err != nil {
				t.Fatalf("insert a next key by hand: %v", err)
			}
		}

		// Two next keys of one algorithm: the unique index cannot be
		// built, and nothing of the migration stays.
		err = s.Migrate(ctx)
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("Migrate with two next ES256 keys: %v, want ErrConflict", err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the failed migration: %v, want ErrSchemaNotMigrated", err)
		}
		wantNoTables(t, s, "system_keys")
		wantNoColumns(t, s, "clients.access_token_format")

		if _, err := db.NewRaw("DELETE FROM signing_keys WHERE kid = 'by-hand-2'").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		// The format went with its column; the keys are all there.
		if got, err := s.ClientByID(ctx, "old-client"); err != nil || got.AccessTokenFormat != "" || got.Name != "Old client" {
			t.Errorf("old client after the down and up migrations = %+v, %v", got, err)
		}
		if list, err := s.SigningKeys(ctx); err != nil || len(list) != 4 {
			t.Errorf("SigningKeys after the down and up migrations = %d keys, %v; want 4", len(list), err)
		}
		if _, err := s.SystemKey(ctx, "hash-pepper"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SystemKey after the down and up migrations: %v, want ErrNotFound", err)
		}
	})
}

var issue5Created = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// issue5Keys are the signing keys TestMigrateFromTheIssue5Schema inserts
// through the fourth schema, newest first: a current key per algorithm
// (ES256 a minute younger) and a retired RS256 key.
func issue5Keys() []*storage.SigningKey {
	key := func(kid, alg, state string, created, retired time.Time) *storage.SigningKey {
		return &storage.SigningKey{
			KID: kid, Algorithm: alg, State: state,
			PrivateKey: []byte("sealed\x00" + kid + "\xff"),
			PublicKey:  []byte(`{"kid":"` + kid + `"}`),
			CreatedAt:  created, ActivatedAt: created, RetiredAt: retired,
		}
	}
	return []*storage.SigningKey{
		key("old-es-current", "ES256", storage.KeyStateCurrent, issue5Created.Add(-24*time.Hour+time.Minute), time.Time{}),
		key("old-rs-current", "RS256", storage.KeyStateCurrent, issue5Created.Add(-24*time.Hour), time.Time{}),
		key("old-rs-retired", "RS256", storage.KeyStateRetired, issue5Created.Add(-48*time.Hour), issue5Created.Add(-24*time.Hour)),
	}
}

// nullTime is nil for the zero time, so that a raw INSERT stores NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// wantIssue5Rows checks the rows TestMigrateFromTheIssue5Schema inserted
// through the fourth schema: the client, with the default access token
// format, and the signing keys, unchanged and newest first.
func wantIssue5Rows(t *testing.T, s *bunstore.Store, want []*storage.SigningKey) {
	t.Helper()
	ctx := context.Background()
	c, err := s.ClientByID(ctx, "old-client")
	if err != nil {
		t.Fatalf("ClientByID of an old client: %v", err)
	}
	if c.Name != "Old client" || c.SecretHash != "old-hash" || c.OwnerID != "old-user" || !c.SkipConsent || len(c.Scopes) != 1 {
		t.Errorf("old client lost data: %+v", c)
	}
	if c.AccessTokenFormat != "" {
		t.Errorf("old client's AccessTokenFormat = %q, want the default ''", c.AccessTokenFormat)
	}
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

// TestMigrateFromTheIssue6Schema: a client written by the issue 6 binary
// follows the server's refresh retry window after the upgrade, the new
// tables work, and the down migration removes them again.
func TestMigrateFromTheIssue6Schema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if err := s.MigrateTo(ctx, migrationIssue6); err != nil {
			t.Fatalf("apply the first five migrations: %v", err)
		}
		if _, err := s.WriterDB().NewRaw(`INSERT INTO clients
			(id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, allowed_origins,
			 public, token_endpoint_auth_method, skip_consent, owner_id, access_token_format, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			"old-client", "old-hash", "Old client", `["https://old.example/cb"]`, `["authorization_code"]`,
			`["code"]`, `["openid"]`, `[]`, false, "client_secret_basic", true, "", "jwt", issue5Created, issue5Created,
		).Exec(ctx); err != nil {
			t.Fatalf("insert an old client: %v", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		c, err := s.ClientByID(ctx, "old-client")
		if err != nil || c.RefreshRetryWindow != nil || c.AccessTokenFormat != "jwt" || c.Name != "Old client" {
			t.Fatalf("old client after the upgrade = %+v, %v", c, err)
		}
		exp := time.Now().Add(time.Minute)
		if err := s.CreateRefreshSuccessor(ctx, &storage.RefreshSuccessor{Signature: "sig", ClientID: "old-client", Sealed: []byte{1}, ExpiresAt: exp}); err != nil {
			t.Fatalf("CreateRefreshSuccessor: %v", err)
		}

		migrateDown(t, s, dialect, migrationIssue7, "refresh_retry_and_login_throttles")
		wantNoTables(t, s, "refresh_successors", "login_throttles")
		wantNoColumns(t, s, "clients.refresh_retry_window_ms")
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		if _, err := s.RefreshSuccessor(ctx, "sig"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RefreshSuccessor after down and up: %v, want ErrNotFound", err)
		}
	})
}

// openMigratedTo opens a fresh database of dialect with the migrations up
// to version applied; it is closed when the test ends.
func openMigratedTo(t *testing.T, dialect, version string) *bunstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.MigrateTo(ctx, version); err != nil {
		t.Fatalf("apply the migrations up to %s: %v", version, err)
	}
	return s
}

// TestMigrateAddsLoginDevices: a lock written by the issue 7 binary (the
// release before login_devices) holds after the upgrade, with no earlier
// locks counted; after it ends, one failure does not lock again; known
// browsers' records live beside it and clear with it; the down migration
// removes the columns again.
func TestMigrateAddsLoginDevices(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s := openMigratedTo(t, dialect, migrationIssue7)
		at := time.Now().UTC().Truncate(time.Second)
		const account = "0123456789abcdef"
		if _, err := s.WriterDB().NewRaw(`INSERT INTO login_throttles (account, failures, last_failure_at, locked_until)
			VALUES (?, ?, ?, ?)`, account, 5, at, at.Add(time.Minute)).Exec(ctx); err != nil {
			t.Fatalf("insert an old lock: %v", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		key := storage.LoginThrottleKey{Account: account}
		th, err := s.LoginThrottle(ctx, key)
		if err != nil || th.Failures != 5 || th.Locks != 0 || !th.LockedUntil.Equal(at.Add(time.Minute)) {
			t.Fatalf("the old lock after the upgrade = %+v, %v", th, err)
		}
		policy := storage.LoginLockPolicy{MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour, FailureReset: time.Hour}
		th, counted, err := s.RecordLoginFailure(ctx, key, at.Add(time.Minute), policy)
		if err != nil || !counted || th.Failures != 1 || th.Locked(at.Add(time.Minute)) {
			t.Fatalf("a failure after the old lock = %+v, %v, %v; want the first of a new count", th, counted, err)
		}
		device := storage.LoginThrottleKey{Account: account, Device: "laptop"}
		if _, _, err := s.RecordLoginFailure(ctx, device, at, policy); err != nil {
			t.Fatalf("RecordLoginFailure of a browser: %v", err)
		}
		if th, devices, err := s.ClearAccountLoginThrottles(ctx, account); err != nil || th == nil || devices != 1 {
			t.Fatalf("ClearAccountLoginThrottles = %+v, %d, %v", th, devices, err)
		}

		migrateDown(t, s, dialect, migrationLoginDevices, "login_devices")
		wantNoColumns(t, s, "login_throttles.locks", "login_throttles.device_of")
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema after the down migration: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
		if _, _, err := s.RecordLoginFailure(ctx, device, at, policy); err != nil {
			t.Fatalf("RecordLoginFailure of a browser after down and up: %v", err)
		}
	})
}

// TestMigrateToClientTrust: clients an operator made that were already
// allowed a management scope become first-party, so they keep working;
// a dynamically registered client never does, whatever it was allowed;
// and the down migration removes the new columns again.
func TestMigrateToClientTrust(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s := openMigratedTo(t, dialect, migrationIssue7)
		for _, c := range []struct{ id, scopes, rat string }{
			{"operator-admin", `["gatehouse:admin","api"]`, ""},
			{"operator-keys", `["openid","apikeys"]`, ""},
			{"operator-plain", `["openid","api"]`, ""},
			{"registered-keys", `["openid","apikeys"]`, "rat-hash"},
			{"registered-admin", `["gatehouse:admin"]`, "rat-hash"},
		} {
			if _, err := s.WriterDB().NewRaw(`INSERT INTO clients
				(id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, allowed_origins,
				 public, token_endpoint_auth_method, skip_consent, registration_access_token_hash, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.id, "hash", c.id, `[]`, `["client_credentials"]`, `[]`, c.scopes, `[]`,
				false, "client_secret_basic", false, c.rat, issue5Created, issue5Created,
			).Exec(ctx); err != nil {
				t.Fatalf("insert %s: %v", c.id, err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		for id, want := range map[string]bool{
			"operator-admin": true, "operator-keys": true, "operator-plain": false,
			"registered-keys": false, "registered-admin": false,
		} {
			c, err := s.ClientByID(ctx, id)
			if err != nil || c.FirstParty != want || c.IntrospectAnyToken || len(c.Resources) != 0 {
				t.Errorf("%s after the upgrade: first_party %v (want %v), %+v, %v", id, c.FirstParty, want, c, err)
			}
		}

		migrateDown(t, s, dialect, migrationClientTrust, "client_trust")
		wantNoColumns(t, s, "clients.first_party", "clients.introspect_any_token", "clients.resources", "api_keys.created_via")
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate after the down migration: %v", err)
		}
	})
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
	forEachDialect(t, func(t *testing.T, dialect string) {
		ms := knownMigrations(t, dialect)
		recorded, err := os.ReadFile(filepath.Join("testdata", "bun_migrations_30dfc42."+dialect+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		const recordedCount = 8 // the migrations commit 30dfc42 had
		for _, n := range []int{recordedCount, recordedCount - 2} {
			t.Run(fmt.Sprintf("%d applied", n), func(t *testing.T) {
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
// database, bun_migrations aside, as "table t", "column t.c" and "index i
// on t", sorted.
func schemaObjects(t *testing.T, s *bunstore.Store) []string {
	t.Helper()
	db := s.WriterDB()
	var q string
	switch db.Dialect().Name() {
	case bundialect.SQLite:
		q = `SELECT 'table ' || name FROM sqlite_master
			WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name <> 'bun_migrations'
		UNION ALL SELECT 'column ' || m.name || '.' || c.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name <> 'bun_migrations'
		UNION ALL SELECT 'index ' || name || ' on ' || tbl_name FROM sqlite_master
			WHERE type = 'index' AND name NOT LIKE 'sqlite%' AND tbl_name <> 'bun_migrations'`
	default:
		q = `SELECT 'table ' || table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'bun_migrations'
		UNION ALL SELECT 'column ' || table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'bun_migrations'
		UNION ALL SELECT 'index ' || indexname || ' on ' || tablename FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename <> 'bun_migrations'`
	}
	var objects []string
	if err := db.NewRaw(q).Scan(context.Background(), &objects); err != nil {
		t.Fatalf("read the schema: %v", err)
	}
	slices.Sort(objects)
	return objects
}
