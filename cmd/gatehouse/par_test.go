package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// pushFor pushes an authorization request for client c and returns the
// authorization URL that uses its request_uri, with the PKCE verifier and
// the state.
func (s *testServer) pushFor(t *testing.T, c *storage.Client, secret string) (authURL, verifier, state string) {
	t.Helper()
	verifier, state = oauth2.GenerateVerifier(), randomString(t, 16)
	status, body := s.push(t, url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"},
		"state": {state}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, c.ID, secret)
	requestURI, _ := body["request_uri"].(string)
	if status != http.StatusCreated || requestURI == "" {
		t.Fatalf("PAR: %d %v", status, body)
	}
	return s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode(), verifier, state
}

// TestPushedRequestURIOfAnotherClient: a request_uri presented with another
// client's client_id is refused (RFC 9126 §4: the client_id must be the
// one that pushed it) without being consumed, so the client that pushed it
// still signs its user in with it; and it is not redirected anywhere.
func TestPushedRequestURIOfAnotherClient(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("par@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		other, _ := s.client(admin.ClientSpec{Name: "Other app", RedirectURIs: []string{"http://127.0.0.1:8/cb"}, SkipConsent: true})
		authURL, verifier, state := s.pushFor(t, c, secret)

		b := s.newBrowser()
		for _, clientID := range []string{other.ID, "", "unknown-client"} {
			q, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
			q.Set("client_id", clientID)
			if clientID == "" {
				q.Del("client_id")
			}
			p := b.get(s.issuer + provider.PathAuthorize + "?" + q.Encode())
			if p.status != http.StatusBadRequest || p.location != "" {
				t.Fatalf("request_uri with client_id %q: %d %q, want a 400 page", clientID, p.status, p.location)
			}
		}

		cb := b.authorizeAndLogin(authURL, "par@example.com", alicePassword)
		if cb.Get("state") != state || cb.Get("code") == "" {
			t.Fatalf("the pushing client after the refusals: %v", cb)
		}
		conf := s.oauthConfig(c, secret, "openid")
		if _, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange: %v", err)
		}
		// Now it is spent: invalid_request_uri, a 400 page.
		if p := b.get(authURL); p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("spent request_uri: %d %q", p.status, p.location)
		}
	})
}

// TestPushedRequestURIConcurrentUse: of two browsers that bring one
// request_uri at the same moment, exactly one gets on to the login page;
// the other gets a 400 page, never a 5xx.
func TestPushedRequestURIConcurrentUse(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}})
		for round := range 5 {
			authURL, _, _ := s.pushFor(t, c, secret)
			pages := make([]*page, 2)
			browsers := []*browser{s.newBrowser(), s.newBrowser()}
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range pages {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					req, _ := http.NewRequest(http.MethodGet, authURL, nil)
					resp, err := browsers[i].client.Do(req)
					if err != nil {
						t.Errorf("use %d: %v", i, err)
						return
					}
					resp.Body.Close()
					pages[i] = &page{status: resp.StatusCode, url: resp.Request.URL}
				}()
			}
			start.Done()
			done.Wait()
			if t.Failed() {
				t.FailNow()
			}
			wins := 0
			for i, p := range pages {
				switch {
				case p.status == http.StatusOK && p.url.Path == "/login":
					wins++
				case p.status == http.StatusBadRequest:
				default:
					t.Fatalf("round %d, use %d: %d at %s", round, i, p.status, p.url)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of 2 concurrent uses got on, want exactly 1", round, wins)
			}
		}
	})
}
