package main

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// race sends n copies of one token request at once and returns each
// response's status and error code.
func race(t *testing.T, n int, tokenURL string, form url.Values, user, pass string) ([]int, []string, []map[string]interface{}) {
	t.Helper()
	statuses, codes, bodies := make([]int, n), make([]string, n), make([]map[string]interface{}, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			st, body, _ := postForm(t, tokenURL, form, user, pass)
			statuses[i], bodies[i] = st, body
			codes[i], _ = body["error"].(string)
		}()
	}
	start.Done()
	done.Wait()
	return statuses, codes, bodies
}

// TestParallelRefresh: 20 parallel refreshes of one refresh token all
// succeed with one identical new pair (the retry window replays the
// winner's response to the others; no 5xx, no invalid_grant), and the
// grant stays usable through that pair.
func TestParallelRefresh(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("carol@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "SPA backend", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		tok := s.signIn(t, conf, "carol@example.com", alicePassword)

		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		statuses, codes, bodies := race(t, 20, s.issuer+provider.PathToken, form, c.ID, secret)
		var winner map[string]interface{}
		for i, st := range statuses {
			if st != http.StatusOK {
				t.Fatalf("refresh %d: status %d error %q (all: %v %v)", i, st, codes[i], statuses, codes)
			}
			if winner == nil {
				winner = bodies[i]
			}
			for _, k := range []string{"access_token", "refresh_token", "id_token", "scope", "token_type"} {
				if bodies[i][k] != winner[k] {
					t.Fatalf("refresh %d: %s differs from refresh 0's: the answers are not identical", i, k)
				}
			}
		}
		at, _ := winner["access_token"].(string)
		rt, _ := winner["refresh_token"].(string)
		if at == "" || rt == "" || rt == tok.RefreshToken {
			t.Fatalf("the shared answer has no new pair: %v", winner)
		}
		if !s.active(t, c.ID, secret, at) {
			t.Fatal("the winner's access token is not active: the grant was revoked")
		}
		next, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			t.Fatalf("the winner's refresh token does not work: %v", err)
		}
		if !s.active(t, c.ID, secret, next.AccessToken) {
			t.Fatal("the grant is not usable after the race")
		}
	})
}

// TestParallelCodeExchange: rounds of 20 parallel exchanges of one code.
// Every round exactly one exchange succeeds, the others get invalid_grant
// (never a 5xx), and the winner's access and refresh tokens are revoked
// afterwards (RFC 6749 §4.1.2: a code used twice revokes what it issued),
// however the exchanges interleaved: a loser that read the code before the
// winner spent it revokes as surely as a later replay.
func TestParallelCodeExchange(t *testing.T) {
	t.Parallel()
	const rounds, n = 5, 20
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("dave@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "Web app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		b := s.newBrowser()
		for round := range rounds {
			verifier, challenge := pkce()
			cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "dave@example.com", alicePassword)

			form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}
			statuses, codes, bodies := race(t, n, s.issuer+provider.PathToken, form, c.ID, secret)
			var winner map[string]interface{}
			for i, st := range statuses {
				switch {
				case st == http.StatusOK && winner == nil:
					winner = bodies[i]
				case st == http.StatusBadRequest && codes[i] == "invalid_grant":
				default:
					t.Fatalf("round %d, exchange %d: status %d error %q (all: %v %v)", round, i, st, codes[i], statuses, codes)
				}
			}
			if winner == nil {
				t.Fatalf("round %d: no exchange succeeded (%v %v)", round, statuses, codes)
			}
			for _, k := range []string{"access_token", "refresh_token"} {
				tok, _ := winner[k].(string)
				if tok == "" {
					t.Fatalf("round %d: the winner got no %s: %v", round, k, winner)
				}
				if s.active(t, c.ID, secret, tok) {
					t.Fatalf("round %d: the winner's %s is still active after %d losing exchanges of its code", round, k, n-1)
				}
			}
		}
	})
}
