package conformance

import (
	"context"

	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func resourceTests() []test {
	return []test{
		{"CreateAndGet", testResourceCreateAndGet},
		{"Conflict", testResourceConflict},
		{"NotFound", testResourceNotFound},
		{"List", testResourceList},
		{"Update", testResourceUpdate},
		{"ReturnsCopy", testResourceReturnsCopy},
		{"Delete", testResourceDelete},
		{"ChangeInTransaction", testResourceChangeInTransaction},
	}
}

func newResource(id string) *storage.Resource {
	return &storage.Resource{
		ID:                  id,
		Name:                "API " + id,
		Scopes:              []string{"read", "write", "tools:call"},
		AccessTokenFormat:   "jwt",
		AccessTokenLifetime: 90 * time.Second,
		SigningAlg:          "ES256",
	}
}

func (e *env) wantResource(got, want *storage.Resource, what string) {
	e.t.Helper()
	e.wantEqual(got.ID, want.ID, what+" ID")
	e.wantEqual(got.Name, want.Name, what+" Name")
	e.wantList(got.Scopes, want.Scopes, what+" Scopes")
	e.wantEqual(got.AccessTokenFormat, want.AccessTokenFormat, what+" AccessTokenFormat")
	e.wantEqual(got.AccessTokenLifetime, want.AccessTokenLifetime, what+" AccessTokenLifetime")
	e.wantEqual(got.SigningAlg, want.SigningAlg, what+" SigningAlg")
}

func testResourceCreateAndGet(e *env) {
	want := newResource("https://mcp.example/mcp?tenant='1'")
	e.must(e.s.CreateResource(e.ctx, want), "CreateResource")
	e.wantTime(want.CreatedAt, e.clock.Now(), "CreatedAt set on the argument")
	got, err := e.s.ResourceByID(e.ctx, want.ID)
	e.must(err, "ResourceByID")
	e.wantResource(got, want, "resource")
	e.wantTime(got.CreatedAt, e.clock.Now(), "CreatedAt")
	e.wantTime(got.UpdatedAt, e.clock.Now(), "UpdatedAt")

	// Defaults round-trip: no scopes, inherited format, lifetime and alg.
	bare := &storage.Resource{ID: "urn:example:bare"}
	e.must(e.s.CreateResource(e.ctx, bare), "CreateResource bare")
	got, err = e.s.ResourceByID(e.ctx, bare.ID)
	e.must(err, "ResourceByID bare")
	e.wantResource(got, bare, "bare resource")
}

func testResourceConflict(e *env) {
	e.must(e.s.CreateResource(e.ctx, newResource("https://api.example")), "CreateResource")
	err := e.s.CreateResource(e.ctx, newResource("https://api.example"))
	e.wantIs(err, "second CreateResource", storage.ErrConflict)
}

func testResourceNotFound(e *env) {
	_, err := e.s.ResourceByID(e.ctx, "https://nope.example")
	e.wantNotFound(err, "ResourceByID")
	// A miss is not remembered: the resource created next is found.
	e.must(e.s.CreateResource(e.ctx, newResource("https://nope.example")), "CreateResource")
	_, err = e.s.ResourceByID(e.ctx, "https://nope.example")
	e.must(err, "ResourceByID after creating it")
	e.wantNotFound(e.s.UpdateResource(e.ctx, newResource("https://other.example")), "UpdateResource unknown")
	e.wantNotFound(e.s.DeleteResource(e.ctx, "https://other.example"), "DeleteResource unknown")
	e.wantNotFound(e.s.DeleteResource(e.ctx, "bad\x00id"), "DeleteResource with a NUL byte")
	_, err = e.s.ResourceByID(e.ctx, "bad\x00id")
	e.wantNotFound(err, "ResourceByID with a NUL byte")
}

func testResourceList(e *env) {
	list, err := e.s.ListResources(e.ctx)
	e.must(err, "ListResources empty")
	e.wantEqual(len(list), 0, "resources in an empty store")
	for _, id := range []string{"https://b.example", "https://a.example", "urn:c"} {
		e.must(e.s.CreateResource(e.ctx, newResource(id)), "CreateResource "+id)
	}
	list, err = e.s.ListResources(e.ctx)
	e.must(err, "ListResources")
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	e.wantList(ids, []string{"https://a.example", "https://b.example", "urn:c"}, "listed resources")
	e.wantResource(list[0], newResource("https://a.example"), "listed resource")
}

func testResourceUpdate(e *env) {
	e.must(e.s.CreateResource(e.ctx, newResource("https://api.example")), "CreateResource")
	before, err := e.s.ResourceByID(e.ctx, "https://api.example") // warms any cache
	e.must(err, "ResourceByID before")
	e.clock.Advance(3 * time.Second)
	changed := &storage.Resource{ID: "https://api.example", Name: "Renamed", Scopes: []string{"read"}, AccessTokenFormat: "opaque"}
	e.must(e.s.UpdateResource(e.ctx, changed), "UpdateResource")
	after, err := e.s.ResourceByID(e.ctx, "https://api.example")
	e.must(err, "ResourceByID after")
	e.wantResource(after, changed, "updated resource")
	e.wantTime(after.CreatedAt, before.CreatedAt, "CreatedAt after update")
	e.wantTime(after.UpdatedAt, e.clock.Now(), "UpdatedAt after update")
}

func testResourceReturnsCopy(e *env) {
	want := newResource("https://api.example")
	e.must(e.s.CreateResource(e.ctx, want), "CreateResource")
	for range 3 {
		got, err := e.s.ResourceByID(e.ctx, want.ID)
		e.must(err, "ResourceByID")
		e.wantResource(got, want, "resource after the caller edited its copy")
		got.Scopes[0] = "admin"
		got.Scopes = append(got.Scopes, "more")
		got.AccessTokenFormat = "opaque"
	}
}

func testResourceDelete(e *env) {
	e.must(e.s.CreateResource(e.ctx, newResource("https://api.example")), "CreateResource")
	e.must(e.s.CreateResource(e.ctx, newResource("https://kept.example")), "CreateResource kept")
	_, err := e.s.ResourceByID(e.ctx, "https://api.example") // warms any cache
	e.must(err, "ResourceByID")
	e.must(e.s.DeleteResource(e.ctx, "https://api.example"), "DeleteResource")
	_, err = e.s.ResourceByID(e.ctx, "https://api.example")
	e.wantNotFound(err, "ResourceByID after delete")
	_, err = e.s.ResourceByID(e.ctx, "https://kept.example")
	e.must(err, "the other resource after delete")
}

// A change inside a transaction is seen after it commits and not after it
// rolls back, whatever was cached in between.
func testResourceChangeInTransaction(e *env) {
	e.must(e.s.CreateResource(e.ctx, newResource("https://api.example")), "CreateResource")
	_, err := e.s.ResourceByID(e.ctx, "https://api.example")
	e.must(err, "ResourceByID")
	errRollback := storage.ErrConflict
	err = e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.DeleteResource(ctx, "https://api.example"); err != nil {
			return err
		}
		return errRollback
	})
	e.wantIs(err, "rolled-back delete", errRollback)
	_, err = e.s.ResourceByID(e.ctx, "https://api.example")
	e.must(err, "ResourceByID after a rolled-back delete")

	e.must(e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateResource(ctx, newResource("https://new.example"))
	}), "create in a transaction")
	_, err = e.s.ResourceByID(e.ctx, "https://new.example")
	e.must(err, "ResourceByID after a committed create")
}
