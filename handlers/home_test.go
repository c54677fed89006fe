package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestHomePage: / is a page, not a JSON 404: signed out it says what this
// is and links to sign-in, under the pages' headers; signed in it goes on
// to the account pages.
func TestHomePage(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080", func(o *Options) { o.Product = "Acme ID" })
	rec := f.do(httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	for _, want := range []string{"<h1>Acme ID</h1>", `href="/login"`, "OpenID Connect", `href="/.well-known/openid-configuration"`, `rel="icon" href="/favicon.ico"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/ lacks %q:\n%s", want, body)
		}
	}
	if h := rec.Header(); !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/ without the pages' headers: %v", h)
	}

	u, err := admin.BuildUser(admin.UserSpec{Email: "dana@example.com", Password: "a long enough password"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	signedIn := f.signIn(t, "dana@example.com", "a long enough password")
	session := responseCookie(signedIn, f.h.cookies.session)
	if session == nil {
		t.Fatalf("no session cookie after signing in: %d", signedIn.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(session)
	rec = f.do(req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != provider.PathAccount {
		t.Fatalf("signed in: %d %q, want a redirect to %s", rec.Code, rec.Header().Get("Location"), provider.PathAccount)
	}
	// A cookie of no session is signed out.
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: "no-such-session"})
	if rec := f.do(req); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="/login"`) {
		t.Fatalf("stale cookie: %d", rec.Code)
	}
}

// TestHomePageNeedsNoDatabase: without a session cookie / is answered
// from the binary alone, so it still works with the database gone.
func TestHomePageNeedsNoDatabase(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/", nil)); rec.Code != http.StatusOK {
		t.Fatalf("/ with the database closed: %d\n%s", rec.Code, rec.Body)
	}
}

// TestFavicon: /favicon.ico is an icon browsers may cache, so pages stop
// asking for a missing one.
func TestFavicon(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	rec := f.do(httptest.NewRequest(http.MethodGet, "/favicon.ico", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/x-icon" {
		t.Fatalf("favicon: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	// An ICO file: reserved 0, type 1 (icon), at least one image.
	if b := rec.Body.Bytes(); len(b) < 22 || !bytes.Equal(b[:4], []byte{0, 0, 1, 0}) || b[4] == 0 {
		t.Fatalf("not an icon: % x", b[:min(len(b), 8)])
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") {
		t.Errorf("favicon Cache-Control %q", cc)
	}
}
