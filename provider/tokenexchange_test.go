package provider

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FuzzParseExchangeRequest: whatever the token exchange parameters, the
// parser answers a request it accepts only with a subject token and the
// access token type (and an actor token with its type, or neither), and
// refuses everything else with invalid_request or invalid_grant — never
// another error, never a panic.
func FuzzParseExchangeRequest(f *testing.F) {
	f.Add("tok", TokenTypeAccessToken, "", "", "")
	f.Add("tok", TokenTypeAccessToken, "act", TokenTypeAccessToken, TokenTypeAccessToken)
	f.Add("tok", TokenTypeIDToken, "", "", "")
	f.Add("", TokenTypeAccessToken, "act", "", "")
	f.Add("tok", "urn:ietf:params:oauth:token-type:access_token\x00", "", TokenTypeJWT, TokenTypeRefreshToken)
	f.Add(strings.Repeat("a", exchangeTokenMaxLen+1), TokenTypeAccessToken, "", "", "")
	f.Fuzz(func(t *testing.T, subject, subjectType, actor, actorType, requested string) {
		form := url.Values{
			"subject_token": {subject}, "subject_token_type": {subjectType},
			"actor_token": {actor}, "actor_token_type": {actorType}, "requested_token_type": {requested},
		}
		r, err := parseExchangeRequest(form)
		if err != nil {
			if !errors.Is(err, fosite.ErrInvalidRequest) && !errors.Is(err, fosite.ErrInvalidGrant) {
				t.Fatalf("error %v is neither invalid_request nor invalid_grant", err)
			}
			return
		}
		switch {
		case r.subjectToken == "" || !slices.Contains(TokenExchangeSubjectTypes, r.subjectType):
			t.Fatalf("accepted subject %q of type %q", r.subjectToken, r.subjectType)
		case (r.actorToken == "") != (r.actorType == ""), r.actorToken != "" && r.actorType != TokenTypeAccessToken:
			t.Fatalf("accepted actor %q of type %q", r.actorToken, r.actorType)
		case requested != "" && requested != TokenTypeAccessToken:
			t.Fatalf("accepted requested_token_type %q", requested)
		case len(r.subjectToken) > exchangeTokenMaxLen || len(r.actorToken) > exchangeTokenMaxLen:
			t.Fatal("accepted a token over the length limit")
		}
	})
}

// TestParseTokenType: each RFC 8693 §3 type is known; access tokens are
// accepted as subject and actor tokens, ID tokens and JWTs as subject
// tokens only; a missing or unknown one is invalid_request.
func TestParseTokenType(t *testing.T) {
	if got, err := ParseTokenType("subject_token_type", TokenTypeAccessToken); err != nil || got != TokenTypeAccessToken {
		t.Fatalf("access token type: %q, %v", got, err)
	}
	for _, v := range []string{TokenTypeIDToken, TokenTypeJWT} {
		if got, err := ParseTokenType("subject_token_type", v); err != nil || got != v {
			t.Errorf("subject token type %q: %q, %v", v, got, err)
		}
		if _, err := ParseTokenType("actor_token_type", v); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("actor token type %q: %v, want invalid_request", v, err)
		}
	}
	for _, v := range []string{"", TokenTypeRefreshToken, TokenTypeSAML2, "access_token", "URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ACCESS_TOKEN"} {
		if _, err := ParseTokenType("subject_token_type", v); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("%q: %v, want invalid_request", v, err)
		}
	}
}

// TestActorClaim: the act claim nests prior actors, outermost first.
func TestActorClaim(t *testing.T) {
	a := &Actor{Subject: "b", Act: &Actor{Subject: "a"}}
	c := a.claim()
	inner, _ := c["act"].(map[string]any)
	if c["sub"] != "b" || inner["sub"] != "a" || inner["act"] != nil || a.depth() != 2 || strings.Join(a.chain(), " ") != "b a" {
		t.Fatalf("claim %v, depth %d, chain %q", c, a.depth(), a.chain())
	}
}
