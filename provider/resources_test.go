package provider

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestValidResourceIndicator(t *testing.T) {
	for v, want := range map[string]bool{
		"https://mcp.example/mcp":         true,
		"https://api.example/v1?x=1":      true,
		"urn:example:api":                 true,
		"":                                false,
		"/relative":                       false,
		"https://api.example/#frag":       false,
		"https://api.example/#":           false,
		"https://api.example/\x00":        false,
		"api.example":                     false,
		"https://a.example/" + long(2000): false,
	} {
		if got := ValidResourceIndicator(v); got != want {
			t.Errorf("ValidResourceIndicator(%.40q) = %v, want %v", v, got, want)
		}
	}
}

func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

// A token request names at most one resource (RFC 8707 §2.2, one audience
// per token).
func TestTokenRequestResource(t *testing.T) {
	if v, err := tokenRequestResource(url.Values{}); v != "" || err != nil {
		t.Fatalf("none: %q %v", v, err)
	}
	if v, err := tokenRequestResource(url.Values{"resource": {"https://a.example"}}); v != "https://a.example" || err != nil {
		t.Fatalf("one: %q %v", v, err)
	}
	if _, err := tokenRequestResource(url.Values{"resource": {"https://a.example", "https://b.example"}}); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("two: %v, want invalid_target", err)
	}
}

// Every scope must be understood by every registered resource, but the
// OpenID Connect scopes; unregistered resources (a client's audience
// list) are not checked.
func TestCheckTargetScopes(t *testing.T) {
	mcp := target{id: "https://mcp.example", res: &storage.Resource{ID: "https://mcp.example", Scopes: []string{"tools:read"}}}
	legacy := target{id: "https://legacy.example"}
	for _, tc := range []struct {
		targets []target
		scopes  []string
		ok      bool
	}{
		{[]target{mcp}, []string{"openid", "profile", "email", "offline_access", "tools:read"}, true},
		{[]target{mcp}, []string{"tools:write"}, false},
		{[]target{mcp}, []string{"gatehouse:admin"}, false},
		{[]target{legacy}, []string{"anything"}, true},
		{[]target{mcp, legacy}, []string{"anything"}, false},
		{nil, []string{"anything"}, true},
	} {
		err := checkTargetScopes(tc.targets, tc.scopes)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, fosite.ErrInvalidScope)) {
			t.Errorf("%v with %v: %v, want ok=%v", targetIDs(tc.targets), tc.scopes, err, tc.ok)
		}
	}
}

// The access token names its one resource; without one, every resource
// of the grant with fosite's granted audience.
func TestAccessAudience(t *testing.T) {
	r := fosite.NewRequest()
	sess := NewSession()
	r.Session = sess
	r.GrantedAudience = fosite.Arguments{"aud-param"}
	sess.Resources = []string{"https://a.example", "https://b.example"}
	if got := accessAudience(r); !slices.Equal(got, []string{"aud-param", "https://a.example", "https://b.example"}) {
		t.Fatalf("grant of several: %v", got)
	}
	sess.Resource = &TokenResource{ID: "https://b.example"}
	if got := accessAudience(r); !slices.Equal(got, []string{"https://b.example"}) {
		t.Fatalf("bound to one: %v", got)
	}
}
