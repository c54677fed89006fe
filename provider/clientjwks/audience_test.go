package clientjwks

import (
	"net/http"
	"testing"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
)

// TestAcceptedAudiences: with AcceptedAudiences around fosite's client
// authentication and AudienceConfig as its configuration, an assertion's
// aud may be any of the request's accepted values, a string or an array;
// fosite alone takes only its token URL. Outside an assertion request the
// configuration's token URLs are fosite's.
func TestAcceptedAudiences(t *testing.T) {
	const issuer = "https://id.example.com"
	f, c, key := fositeWithInlineKey(t)
	cfg := f.Config.(*fosite.Config)
	f.Config = AudienceConfig{Config: cfg}
	accepted := func(*http.Request) []string { return []string{issuer, testTokenURL} }
	strategy := AcceptedAudiences(f.DefaultClientAuthenticationStrategy, accepted)
	withAud := func(aud ...string) string {
		return signAssertion(t, c, key, "k1", func(cl *josejwt.Claims) { cl.Audience = aud })
	}

	for name, assertion := range map[string]string{
		"the issuer":          withAud(issuer),
		"the token URL":       withAud(testTokenURL),
		"an array naming one": withAud("https://other.example", issuer),
	} {
		if _, err := runAuth(strategy, assertion); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, assertion := range map[string]string{
		"another server":            withAud("https://other.example"),
		"an array naming none":      withAud("https://other.example", issuer+"/"),
		"the issuer with no prefix": withAud("id.example.com"),
	} {
		if _, err := runAuth(strategy, assertion); !errorIs(err, fosite.ErrInvalidClient) {
			t.Errorf("%s: %v, want invalid_client", name, err)
		}
	}
	// fosite alone: the token URL only.
	if _, err := runAuth(f.DefaultClientAuthenticationStrategy, withAud(issuer)); !errorIs(err, fosite.ErrInvalidClient) {
		t.Errorf("fosite alone took aud = issuer: %v", err)
	}
	if got := (AudienceConfig{Config: cfg}).GetTokenURLs(t.Context()); len(got) != 1 || got[0] != testTokenURL {
		t.Errorf("token URLs outside a request: %v", got)
	}
}

func errorIs(err error, target *fosite.RFC6749Error) bool {
	rfc := fosite.ErrorToRFC6749Error(err)
	return err != nil && rfc.ErrorField == target.ErrorField
}
