package provider

import (
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// TestIntrospectionEntitlement: who may learn about which token (RFC 7662
// §4), and whether the e-mail address goes with it.
func TestIntrospectionEntitlement(t *testing.T) {
	const api = "https://api.example/orders"
	app := &storage.Client{ID: "app"}
	token := func(use fosite.TokenUse, scopes ...string) (fosite.Requester, fosite.TokenUse) {
		sess := NewSession()
		sess.Subject, sess.Username = "bob-id", "bob@example.com"
		sess.SetExpiresAt(fosite.AccessToken, time.Unix(2000, 0))
		sess.SetExpiresAt(fosite.RefreshToken, time.Unix(9000, 0))
		r := fosite.NewRequest()
		r.Client = app
		r.Session = sess
		r.RequestedAt = time.Unix(1000, 0)
		r.GrantedScope = scopes
		r.GrantedAudience = fosite.Arguments{api}
		return r, use
	}
	callers := map[string]*storage.Client{
		"own client":                {ID: "app"},
		"unrelated client":          {ID: "stranger"},
		"resource server of aud":    {ID: "orders-api", Resources: []string{"https://api.example/other", api}},
		"resource server elsewhere": {ID: "billing-api", Resources: []string{"https://api.example/billing"}},
		"operator-allowed":          {ID: "gateway", IntrospectAnyToken: true},
	}
	for _, tc := range []struct {
		caller   string
		use      fosite.TokenUse
		scopes   []string
		want     entitlement
		username bool
	}{
		{"own client", fosite.AccessToken, []string{"openid", "email"}, ownToken, true},
		{"own client", fosite.AccessToken, []string{"openid"}, ownToken, false},
		{"own client", fosite.RefreshToken, []string{"openid", "email"}, ownToken, true},
		{"unrelated client", fosite.AccessToken, []string{"openid", "email"}, notEntitled, false},
		{"unrelated client", fosite.RefreshToken, []string{"openid"}, notEntitled, false},
		{"resource server of aud", fosite.AccessToken, []string{"openid", "email"}, audience, true},
		{"resource server of aud", fosite.AccessToken, []string{"openid"}, audience, false},
		{"resource server of aud", fosite.RefreshToken, []string{"openid", "email"}, notEntitled, false},
		{"resource server elsewhere", fosite.AccessToken, []string{"openid", "email"}, notEntitled, false},
		{"operator-allowed", fosite.AccessToken, []string{"openid", "email"}, operatorAllowed, false},
		{"operator-allowed", fosite.RefreshToken, []string{"openid", "email"}, notEntitled, false},
	} {
		ar, use := token(tc.use, tc.scopes...)
		got := entitlementOf(callers[tc.caller], ar, use)
		if got != tc.want {
			t.Errorf("%s, %s %v: entitlement %d, want %d", tc.caller, tc.use, tc.scopes, got, tc.want)
			continue
		}
		if got == notEntitled {
			continue
		}
		out := (&Provider{opts: Options{Issuer: "https://id.example"}}).introspectionOf(ar, use, got)
		if _, has := out["username"]; has != tc.username {
			t.Errorf("%s, %s %v: username shown %v, want %v (%v)", tc.caller, tc.use, tc.scopes, has, tc.username, out)
		}
		wantExp := int64(2000)
		if use == fosite.RefreshToken {
			wantExp = 9000
		}
		if out["exp"] != wantExp || out["iat"] != int64(1000) || out["client_id"] != "app" || out["sub"] != "bob-id" {
			t.Errorf("%s, %s: %v", tc.caller, tc.use, out)
		}
		if _, has := out["token_type"]; has != (use == fosite.AccessToken) {
			t.Errorf("%s, %s: token_type %v", tc.caller, tc.use, out["token_type"])
		}
	}
}
