package provider

import (
	"errors"
	"testing"

	"github.com/ory/fosite"
)

// TestEssentialACR: an essential acr with values is met by a session of
// one of those classes, and by a passkey's phishing-resistant sign-in
// (phr, itself multi-factor) when the second factor's class is asked for
// — the ID token then names the class requested (OpenID Connect Core
// §5.5.1.1); anything else is access_denied. Without an essential acr the
// session's acr stays.
func TestEssentialACR(t *testing.T) {
	essential := func(values string) string {
		return `{"id_token":{"acr":{"essential":true,"values":[` + values + `]}}}`
	}
	for _, tc := range []struct {
		name, claims, session, want string
		denied                      bool
	}{
		{"no claims request", ``, ACRPhishingResistant, ACRPhishingResistant, false},
		{"acr not essential", `{"id_token":{"acr":{"values":["x"]}}}`, "", "", false},
		{"met as it is", essential(`"` + ACRMultiFactor + `"`), ACRMultiFactor, ACRMultiFactor, false},
		{"passkey meets the second factor's class", essential(`"` + ACRMultiFactor + `"`), ACRPhishingResistant, ACRMultiFactor, false},
		{"passkey asked for as such", essential(`"` + ACRPhishingResistant + `"`), ACRPhishingResistant, ACRPhishingResistant, false},
		{"second factor does not meet phr", essential(`"` + ACRPhishingResistant + `"`), ACRMultiFactor, "", true},
		{"password meets nothing", essential(`"` + ACRMultiFactor + `"`), "", "", true},
		{"upstream does not meet mfa", essential(`"` + ACRMultiFactor + `"`), "urn:gatehouse:upstream:corp", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr *ClaimsRequest
			if tc.claims != "" {
				var err error
				if cr, err = ParseClaimsRequest(tc.claims); err != nil {
					t.Fatal(err)
				}
			}
			got, err := essentialACR(cr, tc.session)
			if tc.denied {
				if !errors.Is(err, fosite.ErrAccessDenied) {
					t.Fatalf("essentialACR(%s, %q) = %q, %v; want access_denied", tc.claims, tc.session, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("essentialACR(%s, %q) = %q, %v; want %q", tc.claims, tc.session, got, err, tc.want)
			}
		})
	}
}
