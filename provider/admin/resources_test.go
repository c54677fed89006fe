package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Every change to a resource is audited, naming the resource and what
// changed; a refused change records nothing.
func TestResourceChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const id = "https://mcp.example/mcp"
	if _, err := f.a.CreateResource(ctx, nil, ResourceSpec{ID: id, Name: "MCP", Scopes: []string{"tools:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.ChangeResource(ctx, nil, id, func(s *ResourceSpec) { s.AccessTokenLifetime = time.Minute }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.ChangeResource(ctx, nil, id, func(s *ResourceSpec) { s.SigningAlg = "none" }); err == nil {
		t.Fatal("a bad algorithm was accepted")
	}
	if err := f.a.DeleteResource(ctx, nil, id); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range f.log.Events() {
		if ev.Subject != audit.ResourceSubject(id) {
			continue
		}
		got = append(got, ev.Type+" "+ev.Actor+" "+ev.Details["changed"])
	}
	want := []string{"resource.created operator ", "resource.updated operator access_token_lifetime", "resource.deleted operator "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit events %q, want %q", got, want)
	}
}

// The token path holds every resource in memory: registration stops at
// MaxResources.
func TestResourceCountIsBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	err := f.Store.InTx(ctx, func(ctx context.Context) error {
		for i := range MaxResources {
			if err := f.Store.CreateResource(ctx, &storage.Resource{ID: fmt.Sprintf("https://api.example/%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.a.CreateResource(ctx, nil, ResourceSpec{ID: "https://one-more.example/"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Field != "resource" {
		t.Fatalf("resource %d: %v, want a validation error", MaxResources+1, err)
	}
	if err := f.a.DeleteResource(ctx, nil, "https://api.example/0"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.CreateResource(ctx, nil, ResourceSpec{ID: "https://one-more.example/"}); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}
