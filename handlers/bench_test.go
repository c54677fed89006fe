package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// The public endpoints of the load benchmark, through echo with every
// middleware of the public listener (request id, access log, security
// headers, body limits, ...) but without the network: the handler cost per
// request on a fresh SQLite store. Rate limits are off, as in make bench.
//
//	go test -run '^$' -bench . -benchmem ./handlers/

// benchWriter is a reusable http.ResponseWriter: unlike a new
// httptest.ResponseRecorder per request it adds no allocations of its own,
// so allocs/op are the handler's.
type benchWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newBenchWriter() *benchWriter { return &benchWriter{h: http.Header{}} }

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}

// serve sends r through the public echo instance and fails unless the
// answer is 200 with want in the body. Middleware may replace the request's
// body, so every iteration builds its own request.
func (f *fixture) serve(b *testing.B, w *benchWriter, r *http.Request, want []byte) {
	w.reset()
	f.e.ServeHTTP(w, r)
	if w.code != http.StatusOK || !bytes.Contains(w.body.Bytes(), want) {
		b.Fatalf("%s %s: %d %.200s", r.Method, r.URL.Path, w.code, w.body.String())
	}
}

func benchGet(path string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Accept", "application/json")
	return r
}

// benchPost is a form POST with HTTP Basic client authentication, as the
// load generator sends it.
func benchPost(path, body string, c *storage.Client, secret string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	return r
}

// benchClient registers a client_credentials client with scope "api".
func (f *fixture) benchClient(b *testing.B, format string) (*storage.Client, string) {
	return f.client(b, admin.ClientSpec{Name: "bench", GrantTypes: []string{provider.GrantClientCredentials},
		Scopes: []string{"api"}, AccessTokenFormat: format})
}

// BenchmarkTokenHandler is POST /oauth2/token with client_credentials:
// the whole endpoint, including the one INSERT of the opaque token.
func BenchmarkTokenHandler(b *testing.B) {
	f := newFixture(b, "http://127.0.0.1:8080")
	c, secret := f.benchClient(b, "")
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	w := newBenchWriter()
	want := []byte(`"access_token"`)
	b.ReportAllocs()
	for b.Loop() {
		f.serve(b, w, benchPost(provider.PathToken, body, c, secret), want)
	}
}

// BenchmarkIntrospectHandler is POST /oauth2/introspect of an active
// opaque token, the caller authenticated with client_secret_basic.
func BenchmarkIntrospectHandler(b *testing.B) {
	f := newFixture(b, "http://127.0.0.1:8080")
	c, secret := f.benchClient(b, "")
	w := newBenchWriter()
	f.serve(b, w, benchPost(provider.PathToken, url.Values{"grant_type": {"client_credentials"}}.Encode(), c, secret), []byte(`"access_token"`))
	tok := tokenFrom(b, w.body.Bytes())
	body := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()
	want := []byte(`"active":true`)
	b.ReportAllocs()
	for b.Loop() {
		f.serve(b, w, benchPost(provider.PathIntrospect, body, c, secret), want)
	}
}

// BenchmarkJWKSHandler is GET /.well-known/jwks.json, served from memory.
func BenchmarkJWKSHandler(b *testing.B) {
	benchGetHandler(b, provider.PathJWKS, []byte(`"keys"`))
}

// BenchmarkDiscoveryHandler is GET /.well-known/openid-configuration.
func BenchmarkDiscoveryHandler(b *testing.B) {
	benchGetHandler(b, "/.well-known/openid-configuration", []byte(`"issuer"`))
}

func benchGetHandler(b *testing.B, path string, want []byte) {
	f := newFixture(b, "http://127.0.0.1:8080")
	w := newBenchWriter()
	b.ReportAllocs()
	for b.Loop() {
		f.serve(b, w, benchGet(path), want)
	}
}

// tokenFrom returns the access_token of a token response.
func tokenFrom(b *testing.B, body []byte) string {
	b.Helper()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		b.Fatalf("no access_token in %.200s", body)
	}
	return tr.AccessToken
}
