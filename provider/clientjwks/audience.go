package clientjwks

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// The audience of a client assertion. fosite v0.49.0 checks a
// private_key_jwt assertion's aud against Config.GetTokenURLs — by default
// the token endpoint URL alone, at every endpoint that authenticates
// clients. The standards accept more:
//
//   - RFC 7523 §3 only asks that aud identify the authorization server,
//     and the issuer identifier is what the rfc7523bis update makes the
//     value to use (openid-client v6 / oauth4webapi send it by default);
//   - RFC 9126 §2: the PAR endpoint MUST accept the issuer, the token
//     endpoint URL and the PAR endpoint URL;
//   - an assertion made for the endpoint it is presented at (introspection,
//     revocation) names that endpoint.
//
// AcceptedAudiences puts the values accepted for one request in its
// context, and AudienceConfig hands them to fosite as its "token URLs".
// fosite compares aud, a string or an array of strings, exactly.

type audiencesKey struct{}

// AcceptedAudiences wraps a client authentication strategy so that a
// client assertion's aud may be any of audiences(r) for request r.
func AcceptedAudiences(next fosite.ClientAuthenticationStrategy, audiences func(r *http.Request) []string) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		if form.Get("client_assertion_type") == JWTBearerAssertionType {
			ctx = context.WithValue(ctx, audiencesKey{}, audiences(r))
		}
		return next(ctx, r, form)
	}
}

// AudienceConfig is fosite's configuration with the accepted assertion
// audiences of the request (AcceptedAudiences) as its token URLs; outside
// such a request, the token endpoint URL alone, as fosite has it.
type AudienceConfig struct {
	*fosite.Config
}

// GetTokenURLs implements fosite.TokenURLProvider.
func (c AudienceConfig) GetTokenURLs(ctx context.Context) []string {
	if auds, ok := ctx.Value(audiencesKey{}).([]string); ok && len(auds) > 0 {
		return auds
	}
	return c.Config.GetTokenURLs(ctx)
}
