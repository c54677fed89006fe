package provider

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
)

func TestClaimedClientID(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	jws := func(payload string) string {
		return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
	}
	assertion := func(a string) url.Values {
		return url.Values{"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {a}}
	}
	tests := []struct {
		name  string
		basic []string // user, password
		form  url.Values
		want  string
	}{
		{"basic", []string{"app%3A1", "s"}, url.Values{"client_id": {"other"}}, "app:1"},
		{"basic not form-encoded", []string{"app%zz", "s"}, nil, ""},
		{"client_id", nil, url.Values{"client_id": {"app-2"}}, "app-2"},
		{"client_id before the assertion", nil, url.Values{"client_id": {"app-2"}, "client_assertion_type": {clientjwks.JWTBearerAssertionType},
			"client_assertion": {jws(`{"sub":"app-3"}`)}}, "app-2"},
		{"assertion sub", nil, assertion(jws(`{"iss":"app-3","sub":"app-3"}`)), "app-3"},
		{"assertion of another type", nil, url.Values{"client_assertion_type": {"urn:x"}, "client_assertion": {jws(`{"sub":"app-3"}`)}}, ""},
		{"assertion not a JWS", nil, assertion("not-a-jwt"), ""},
		{"assertion payload not base64url", nil, assertion("a.!!!.c"), ""},
		{"assertion payload not JSON", nil, assertion("a." + enc([]byte("nope")) + ".c"), ""},
		{"assertion sub not a string", nil, assertion(jws(`{"sub":7}`)), ""},
		{"assertion sub with a newline", nil, assertion(jws(`{"sub":"app\nX-Forged: 1"}`)), ""},
		{"assertion sub with a C1 control", nil, assertion(jws(`{"sub":"app\u0085"}`)), ""},
		{"assertion too long", nil, assertion(jws(`{"sub":"app-3","pad":"` + strings.Repeat("x", 8<<10) + `"}`)), ""},
		{"nothing", nil, url.Values{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/oauth2/token", nil)
			if tc.basic != nil {
				r.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			r.PostForm = tc.form
			if got := ClaimedClientID(r); got != tc.want {
				t.Fatalf("ClaimedClientID = %q, want %q", got, tc.want)
			}
		})
	}
}
