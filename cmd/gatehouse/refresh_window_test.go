package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// dropResponses is a loopback proxy in front of target that forwards one
// request per connection, reads the server's whole response and then
// closes the client's connection without passing it on: the response is
// lost on the way back, after the server committed it.
func dropResponses(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				req.Close = true
				up, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				_ = up.SetDeadline(time.Now().Add(10 * time.Second))
				if err := req.Write(up); err != nil {
					return
				}
				resp, err := http.ReadResponse(bufio.NewReader(up), req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestRefreshRetryWindowDroppedResponse: a client whose refresh response
// was lost retries with the same refresh token and gets the pair the lost
// response carried; the grant stays usable, nothing is revoked, and the
// kept response is stored sealed.
func TestRefreshRetryWindowDroppedResponse(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s, dsn := startServerDSN(t, dialect)
		s.user("erin@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "Mobile app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		tok := s.signIn(t, conf, "erin@example.com", alicePassword)

		u, _ := url.Parse(s.issuer)
		lossy := "http://" + dropResponses(t, u.Host) + provider.PathToken
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		req, _ := http.NewRequest(http.MethodPost, lossy, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the proxy passed a response on (%d); the test needs it lost", resp.StatusCode)
		}

		// The refresh happened: the old token is spent. The client retries.
		st, first, _ := postForm(t, s.issuer+provider.PathToken, form, c.ID, secret)
		if st != http.StatusOK {
			t.Fatalf("retry after a lost response: %d %v", st, first)
		}
		st, second, _ := postForm(t, s.issuer+provider.PathToken, form, c.ID, secret)
		if st != http.StatusOK {
			t.Fatalf("second retry: %d %v", st, second)
		}
		at, _ := first["access_token"].(string)
		rt, _ := first["refresh_token"].(string)
		if at == "" || rt == "" || rt == tok.RefreshToken || second["access_token"] != at || second["refresh_token"] != rt {
			t.Fatal("retries within the window did not get one identical new pair")
		}
		if n, _ := first["expires_in"].(float64); n <= 0 {
			t.Fatalf("replayed expires_in = %v", first["expires_in"])
		}
		if !s.active(t, c.ID, secret, at) {
			t.Fatal("the replayed access token is not active")
		}
		// The pair is the grant's live one: refreshing with it works.
		st, next, _ := postForm(t, s.issuer+provider.PathToken,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, secret)
		if st != http.StatusOK {
			t.Fatalf("refresh with the replayed refresh token: %d %v", st, next)
		}

		// Another client cannot collect the kept response with a stolen
		// token: it fails client authentication or the token's binding.
		other, otherSecret := s.client(admin.ClientSpec{Name: "Other", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		if st, body, _ := postForm(t, s.issuer+provider.PathToken, form, other.ID, otherSecret); st == http.StatusOK {
			t.Fatalf("another client got the kept response: %v", body)
		}

		// The kept response is sealed: no token appears in the table.
		db := openReadOnly(t, dsn)
		defer db.Close()
		rows, err := db.QueryContext(context.Background(), "SELECT sealed FROM refresh_successors")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		kept := 0
		for rows.Next() {
			var sealed []byte
			if err := rows.Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			kept++
			if bytes.Contains(sealed, []byte(at)) || bytes.Contains(sealed, []byte("gth_")) {
				t.Fatal("a kept refresh response is stored in clear")
			}
		}
		if kept == 0 {
			t.Fatal("no refresh response was kept")
		}
	})
}

// TestRefreshRetryWindowPerClient: a client's own window overrides the
// server's. With 0 a spent token presented again is reuse at once (the
// grant is revoked); a client with a window longer than the server's is
// still answered after the server's window.
func TestRefreshRetryWindowPerClient(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		const serverWindow = 300 * time.Millisecond
		// The retry windows run on the server's clock, which the test moves.
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock, func(c *config.Config) { c.RefreshRetryWindow = serverWindow })
		s.user("frank@example.com", alicePassword)

		none := time.Duration(0)
		strict, strictSecret := s.client(admin.ClientSpec{Name: "Strict", RedirectURIs: []string{appRedirect}, SkipConsent: true, RefreshRetryWindow: &none})
		conf := s.oauthConfig(strict, strictSecret, "openid", "offline_access")
		tok := s.signIn(t, conf, "frank@example.com", alicePassword)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		st, fresh, _ := postForm(t, s.issuer+provider.PathToken, form, strict.ID, strictSecret)
		if st != http.StatusOK {
			t.Fatalf("refresh: %d %v", st, fresh)
		}
		// Presented again a moment later (at the very instant of the
		// rotation it would be a concurrent request).
		clock.Advance(time.Second)
		if st, body, _ := postForm(t, s.issuer+provider.PathToken, form, strict.ID, strictSecret); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("reuse with a 0 window: %d %v", st, body)
		}
		if at, _ := fresh["access_token"].(string); s.active(t, strict.ID, strictSecret, at) {
			t.Fatal("reuse with a 0 window did not revoke the grant")
		}

		long := 5 * time.Second
		lenient, lenientSecret := s.client(admin.ClientSpec{Name: "Lenient", RedirectURIs: []string{appRedirect}, SkipConsent: true, RefreshRetryWindow: &long})
		conf = s.oauthConfig(lenient, lenientSecret, "openid", "offline_access")
		tok = s.signIn(t, conf, "frank@example.com", alicePassword)
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		st, first, _ := postForm(t, s.issuer+provider.PathToken, form, lenient.ID, lenientSecret)
		if st != http.StatusOK {
			t.Fatalf("refresh: %d %v", st, first)
		}
		clock.Advance(serverWindow + 200*time.Millisecond)
		st, again, _ := postForm(t, s.issuer+provider.PathToken, form, lenient.ID, lenientSecret)
		if st != http.StatusOK || again["refresh_token"] != first["refresh_token"] {
			t.Fatalf("retry within the client's longer window: %d %v", st, again)
		}
	})
}
