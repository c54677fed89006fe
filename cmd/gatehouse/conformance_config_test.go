package main

// oidcc-config-certification-test-plan (OIDCCConfigTestPlan): its one
// module, oidcc-discovery-endpoint-verification, against a gatehouse
// whose issuer is https (as the suite requires of every endpoint; TLS is
// the proxy's), and the check that docs/conformance.md accounts for every
// field of the discovery document.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
)

// discoveryFieldTypes are the JSON types of the metadata gatehouse
// publishes, as RFC 8414 §2, OpenID Connect Discovery §3 and the RFCs
// that registered them (RFC 9126, RFC 9207, RFC 7662, RFC 7009, OpenID
// Connect RP-Initiated, Front- and Back-Channel Logout) define them; the
// suite validates the document against a schema of the same registry
// (ValidateServerMetadataAgainstSchema) and warns about names outside it
// (CheckForUnexpectedParametersInServerMetadata).
var discoveryFieldTypes = map[string]string{
	"issuer": "url", "authorization_endpoint": "url", "token_endpoint": "url", "userinfo_endpoint": "url",
	"jwks_uri": "url", "introspection_endpoint": "url", "revocation_endpoint": "url", "end_session_endpoint": "url",
	"registration_endpoint": "url", "pushed_authorization_request_endpoint": "url", "device_authorization_endpoint": "url",
	"require_pushed_authorization_requests": "bool", "authorization_response_iss_parameter_supported": "bool",
	"claims_parameter_supported": "bool", "request_parameter_supported": "bool", "request_uri_parameter_supported": "bool",
	"require_request_uri_registration": "bool", "frontchannel_logout_supported": "bool", "backchannel_logout_supported": "bool",
	"frontchannel_logout_session_supported": "bool", "backchannel_logout_session_supported": "bool",
	"client_id_metadata_document_supported": "bool",
	"scopes_supported":                      "strings", "response_types_supported": "strings", "response_modes_supported": "strings",
	"grant_types_supported": "strings", "subject_types_supported": "strings", "id_token_signing_alg_values_supported": "strings",
	"token_endpoint_auth_methods_supported": "strings", "token_endpoint_auth_signing_alg_values_supported": "strings",
	"introspection_endpoint_auth_methods_supported": "strings", "introspection_endpoint_auth_signing_alg_values_supported": "strings",
	"revocation_endpoint_auth_methods_supported": "strings", "revocation_endpoint_auth_signing_alg_values_supported": "strings",
	"code_challenge_methods_supported": "strings", "claims_supported": "strings", "prompt_values_supported": "strings",
	"acr_values_supported": "strings", "request_object_signing_alg_values_supported": "strings",
	// draft-ietf-oauth-identity-assertion-authz-grant (only while id_jag.issuers is set).
	"authorization_grant_profiles_supported": "strings",
	// RFC 9449 §5.1.
	"dpop_signing_alg_values_supported": "strings",
}

func TestOIDCCConfigPlan(t *testing.T) {
	t.Parallel()
	const issuer = "https://login.example.test"
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.Issuer = issuer })
		discoveryURL := issuer + "/.well-known/openid-configuration"

		// OIDCCDiscoveryEndpointVerification, as the configuration's
		// server.discoveryUrl reaches it (through the proxy, here the
		// listener itself).
		t.Run("oidcc-discovery-endpoint-verification", func(t *testing.T) {
			resp, err := http.Get(s.addr + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// EnsureDiscoveryEndpointResponseStatusCodeIs200,
			// CheckDiscoveryEndpointReturnedJsonContentType.
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("discovery: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var meta map[string]any
			if err := json.Unmarshal(body, &meta); err != nil {
				t.Fatal(err)
			}
			strs := func(k string) []string {
				var out []string
				arr, _ := meta[k].([]any)
				for _, v := range arr {
					out = append(out, v.(string))
				}
				return out
			}

			// OIDCCCheckDiscEndpointResponseTypesSupported: at least one
			// OpenID Connect response type (static clients).
			if !slices.Contains(strs("response_types_supported"), "code") {
				t.Errorf("response_types_supported %v", meta["response_types_supported"])
			}
			// CheckDiscEndpointDiscoveryUrl, CheckDiscEndpointIssuer,
			// CheckDiscEndpointIssuerIsValidUrl: the issuer is where the
			// document was fetched from, an https URL without query or
			// fragment (RFC 8414 §2, OpenID Connect Discovery §4.3).
			if meta["issuer"] != strings.TrimSuffix(discoveryURL, "/.well-known/openid-configuration") {
				t.Errorf("issuer %v, fetched from %s", meta["issuer"], discoveryURL)
			}
			if u, err := url.Parse(meta["issuer"].(string)); err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
				t.Errorf("issuer %v is not an RFC 8414 issuer identifier", meta["issuer"])
			}
			// ValidateServerMetadataAgainstSchema,
			// CheckForUnexpectedParametersInServerMetadata: every field is
			// registered metadata, of its type.
			for k, v := range meta {
				switch discoveryFieldTypes[k] {
				case "url":
					if u, err := url.Parse(asString(v)); err != nil || u.Scheme != "https" || u.Host == "" {
						t.Errorf("%s = %v, want an https URL", k, v)
					}
				case "bool":
					if _, ok := v.(bool); !ok {
						t.Errorf("%s = %v, want a boolean", k, v)
					}
				case "strings":
					arr, ok := v.([]any)
					if !ok || len(arr) == 0 {
						t.Errorf("%s = %v, want a non-empty array of strings", k, v)
					}
					for _, e := range arr {
						if _, ok := e.(string); !ok {
							t.Errorf("%s has %v, want strings", k, e)
						}
					}
				default:
					t.Errorf("discovery field %q is not registered metadata (the suite warns)", k)
				}
			}
			// CheckDiscEndpointSubjectTypesSupported: public or pairwise.
			if !slices.ContainsFunc(strs("subject_types_supported"), func(s string) bool { return s == "public" || s == "pairwise" }) {
				t.Errorf("subject_types_supported %v", meta["subject_types_supported"])
			}
			// OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported: RS256.
			if !slices.Contains(strs("id_token_signing_alg_values_supported"), "RS256") {
				t.Errorf("id_token_signing_alg_values_supported %v lacks RS256", meta["id_token_signing_alg_values_supported"])
			}
			// CheckDiscEndpointAuthorizationEndpoint, ...TokenEndpoint,
			// ...UserinfoEndpoint, ...RegistrationEndpoint (when present),
			// CheckJwksUri and CheckDiscEndpointAllEndpointsAreHttps: every
			// endpoint an https URL (checked above by type); the required
			// ones present.
			for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"} {
				if _, ok := meta[k]; !ok {
					t.Errorf("discovery lacks %s", k)
				}
			}
			// CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256
			// (a warning).
			if !slices.Contains(strs("request_object_signing_alg_values_supported"), "RS256") {
				t.Errorf("request_object_signing_alg_values_supported %v lacks RS256", meta["request_object_signing_alg_values_supported"])
			}
			// OIDCCCheckDiscEndpointGrantTypesSupported: a non-empty array.
			// CheckDiscEndpointScopesSupportedContainsOpenId and
			// CheckDiscEndpointScopesSupportedSyntax: openid, and each an
			// RFC 6749 §3.3 scope-token (NQCHAR).
			if len(strs("grant_types_supported")) == 0 || !slices.Contains(strs("scopes_supported"), "openid") {
				t.Errorf("grant_types_supported %v, scopes_supported %v", meta["grant_types_supported"], meta["scopes_supported"])
			}
			for _, sc := range strs("scopes_supported") {
				if sc == "" || strings.IndexFunc(sc, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) >= 0 {
					t.Errorf("scope %q is not an RFC 6749 scope-token", sc)
				}
			}
			// EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray
			// is checked by type above; OIDCCCheckDiscEndpointClaimsSupported
			// likewise.

			// FetchServerKeys and ValidateJwksSequence, with the checks every
			// module makes when it starts (CheckForKeyIdInServerJWKs,
			// CheckDistinctKeyIdValueInServerJWKs): public keys only, each
			// with a kid of its own, for signatures.
			jwksURL := s.addr + strings.TrimPrefix(meta["jwks_uri"].(string), issuer)
			resp, err = http.Get(jwksURL)
			if err != nil {
				t.Fatal(err)
			}
			var jwks struct {
				Keys []map[string]any `json:"keys"`
			}
			err = json.NewDecoder(resp.Body).Decode(&jwks)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || len(jwks.Keys) == 0 {
				t.Fatalf("jwks: %d %v %v", resp.StatusCode, err, jwks)
			}
			kids := map[string]bool{}
			var rs256 bool
			for _, k := range jwks.Keys {
				kid, _ := k["kid"].(string)
				if kid == "" || kids[kid] {
					t.Errorf("JWK %v: want a kid of its own", k)
				}
				kids[kid] = true
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWK %s publishes %q", kid, private)
					}
				}
				if u, ok := k["use"]; ok && u != "sig" {
					t.Errorf("JWK %s use %v", kid, u)
				}
				if k["kty"] == "RSA" && (k["alg"] == nil || k["alg"] == "RS256") {
					rs256 = true
				}
			}
			if !rs256 {
				t.Error("no RS256 key: the suite's clients verify RS256 ID tokens")
			}
		})

		// OIDCCRpInitiatedLogoutDiscoveryEndpointVerification (the first
		// module of oidcc-rp-initiated-logout-certification-test-plan):
		// end_session_endpoint is an https URL (CheckDiscEndSessionEndpoint),
		// as is every endpoint (CheckDiscEndpointAllEndpointsAreHttps).
		t.Run("oidcc-rp-initiated-logout-discovery-endpoint-verification", func(t *testing.T) {
			status, meta, _ := getJSON(t, s.addr+"/.well-known/openid-configuration")
			if status != http.StatusOK || meta["end_session_endpoint"] != issuer+provider.PathLogout {
				t.Fatalf("discovery: %d, end_session_endpoint %v", status, meta["end_session_endpoint"])
			}
			for k, v := range meta {
				if strings.HasSuffix(k, "_endpoint") && !strings.HasPrefix(asString(v), "https://") {
					t.Errorf("%s = %v, want https", k, v)
				}
			}
		})
	})
}

func asString(v any) string { s, _ := v.(string); return s }

// getJSON GETs u and decodes its JSON answer.
func getJSON(t *testing.T, u string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return doJSON(t, req)
}

// TestConformanceDocListsEveryDiscoveryField: docs/conformance.md has a
// row for every field of the discovery document, and every field has its
// JSON type in discoveryFieldTypes, so that a field added to
// provider.Discovery is documented with the test that proves it.
func TestConformanceDocListsEveryDiscoveryField(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = true
	}
	typ := reflect.TypeOf(provider.Discovery{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !rows[name] {
			t.Errorf("docs/conformance.md has no row for discovery field %s", name)
		}
		if discoveryFieldTypes[name] == "" {
			t.Errorf("discoveryFieldTypes has no type for discovery field %s", name)
		}
	}
}
