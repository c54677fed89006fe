package bunstore_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/migrations"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

const (
	migrationInit   = "20261127000001"
	migrationIssue3 = "20261127000002"
)

// A database created and filled by a binary that knew only the first
// migration takes the second one, and what it held still loads, with the
// new client fields at their defaults. The second migration's down file
// undoes it, and it applies again after that.
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

		// Down, then up again.
		fsys, err := migrations.FS(dialect)
		if err != nil {
			t.Fatal(err)
		}
		down, err := fs.ReadFile(fsys, migrationIssue3+"_issue3.tx.down.sql")
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, string(down)); err != nil {
			_ = tx.Rollback()
			t.Fatalf("down migration: %v", err)
		}
		if _, err := tx.NewRaw("DELETE FROM bun_migrations WHERE name = ?", migrationIssue3).Exec(ctx); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("commit the down migration: %v", err)
		}
		for _, table := range []string{"pushed_requests", "registration_tokens"} {
			var n int
			if err := db.NewRaw("SELECT count(*) FROM ?", bun.Ident(table)).Scan(ctx, &n); err == nil {
				t.Errorf("table %s survived the down migration", table)
			}
		}
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
		c.RegistrationAccessTokenHash != "" || c.RegisteredBy != "" || c.RequirePushedAuthorizationRequests {
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
