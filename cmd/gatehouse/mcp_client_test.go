package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/cmd/example-mcp-server/exampleserver"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// mcpClientDir holds the MCP client built on the official MCP TypeScript
// SDK (pinned by its package-lock.json; .ci/run installs it).
const mcpClientDir = "testdata/mcp-client"

// TestMCPTypeScriptClient: the official MCP TypeScript SDK client, as
// editors and desktop assistants ship it, connects to the example MCP
// server that gatehouse protects, with no per-client setup: 401 → RFC
// 9728 protected resource metadata → RFC 8414 metadata → the client's
// identity as a client ID metadata document (served over HTTPS on
// loopback), or else anonymous dynamic registration → PKCE authorization
// through the real login and consent pages → a token bound to the
// server's resource → tool calls that see the person.
func TestMCPTypeScriptClient(t *testing.T) {
	t.Parallel()
	node := nodeWithPackages(t, mcpClientDir, "@modelcontextprotocol/sdk", "the MCP TypeScript SDK client")
	forEachDialect(t, func(t *testing.T, dialect string) {
		ds := startClientDocServer(t)
		ln := loopbackListener(t)
		resource := "http://" + ln.Addr().String() + "/mcp"
		s := startServer(t, dialect, withClientDocuments(ds, func(d *config.ClientIDMetadataDocuments) {
			d.Resources = []string{resource}
			d.Scopes = []string{"openid", "offline_access", "mcp:tools", "mcp:admin"}
		}), func(c *config.Config) {
			c.Registration.Policy = config.RegistrationPublic
			c.Registration.PublicScopes = []string{"openid", "offline_access", "mcp:tools"}
			c.Registration.PublicResources = []string{resource}
		})
		user := s.user("mia@example.com", alicePassword)
		// A token another MCP server would accept: issued for another
		// resource.
		const otherResource = "https://other-mcp.example/mcp"
		machine, machineSecret := s.client(admin.ClientSpec{Name: "agent", Scopes: []string{"mcp:tools"}, Audience: []string{otherResource}})
		foreign := s.resourceServerToken(t, machine.ID, machineSecret, otherResource, "mcp:tools")
		serverClient, serverSecret := s.client(admin.ClientSpec{Name: "example MCP server", Resources: []string{resource}})
		h, err := exampleserver.New(exampleserver.Config{Issuer: s.issuer, Resource: resource, ClientID: serverClient.ID,
			ClientSecret: serverSecret, Scope: "mcp:tools", AdminScope: "mcp:admin"})
		if err != nil {
			t.Fatal(err)
		}
		serveLoopback(t, ln, h)

		const redirect = "http://127.0.0.1:33418/callback"
		metadataURL := ds.put("/mcp-client.json", map[string]any{
			"client_name": "Interop MCP client", "redirect_uris": []string{redirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none",
		})
		for _, tc := range []struct {
			name, metadataURL string
			stepUp            bool
		}{
			// The document names no scope, so the client may be allowed
			// mcp:admin when the server asks for it; the registration
			// asked for mcp:tools only and keeps to it (a client that
			// registered narrowly must register again to step up).
			{"metadata document", metadataURL, true},
			{"dynamic registration", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := runMCPClient(t, node, s, user.Email, resource, redirect, tc.metadataURL, tc.stepUp, foreign)
				if tc.metadataURL != "" && got.ClientID != tc.metadataURL {
					t.Fatalf("the client used id %q, want its metadata document's URL %q", got.ClientID, tc.metadataURL)
				}
				if tc.metadataURL == "" && (got.ClientID == "" || strings.HasPrefix(got.ClientID, "https://")) {
					t.Fatalf("the client did not register: id %q", got.ClientID)
				}
				if got.Who.Subject != user.ID || got.Who.ClientID != got.ClientID || !strings.Contains(" "+strings.Join(got.Who.Scopes, " ")+" ", " mcp:tools ") {
					t.Fatalf("whoami: %+v, want %s through %s with mcp:tools", got.Who, user.ID, got.ClientID)
				}
				if string(got.Sum) != `{"sum":42}` {
					t.Fatalf("add: %s", got.Sum)
				}
				if got.Foreign == nil || got.Foreign == "accepted" || !strings.Contains(fmt.Sprint(got.Foreign), "401") {
					t.Fatalf("a token for another resource: %v, want it refused with 401", got.Foreign)
				}
				if tc.stepUp && got.Scoped.Caller != user.ID {
					t.Fatalf("the tool that needs mcp:admin, after the step-up: %+v", got.Scoped)
				}
			})
		}
	})
}

// mcpClientResult is what the MCP client reports.
type mcpClientResult struct {
	ClientID     string               `json:"client_id"`
	Who          exampleserver.WhoAmI `json:"who"`
	Sum          json.RawMessage      `json:"sum"`
	Scope        string               `json:"scope"`
	RefreshToken bool                 `json:"refresh_token"`
	Scoped       exampleserver.Stats  `json:"scoped"`
	Foreign      any                  `json:"foreign"`
}

// runMCPClient runs the MCP client against resource and signs email in
// through gatehouse's pages when it asks.
//
// With stepUp the client also calls the tool that needs mcp:admin: the
// server answers 403 insufficient_scope, the SDK sends the person to
// authorize again with the union of scopes, and the person allows it.
//
// foreign, when set, is a token for another resource that the client then
// presents on its own: the server must refuse it.
func runMCPClient(t *testing.T, node string, s *testServer, email, resource, redirect, metadataURL string, stepUp bool, foreign string) mcpClientResult {
	t.Helper()
	env := []string{"MCP_URL=" + resource, "REDIRECT_URI=" + redirect, "CLIENT_METADATA_URL=" + metadataURL}
	if stepUp {
		env = append(env, "SCOPED_TOOL="+exampleserver.StatsTool)
	}
	if foreign != "" {
		env = append(env, "FOREIGN_TOKEN="+foreign)
	}
	client := startNodeScript(t, node, mcpClientDir, "client.mjs", "the MCP client", env...)
	next := client.next

	var authorize string
	_ = json.Unmarshal(next()["authorize"], &authorize)
	u, err := url.Parse(authorize)
	if err != nil || !strings.HasPrefix(authorize, s.issuer+"/") {
		t.Fatalf("authorization URL %q: not gatehouse's", authorize)
	}
	q := u.Query()
	if q.Get("resource") != resource || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization URL %q: want resource %s and PKCE S256", authorize, resource)
	}
	b := s.newBrowser()
	p := b.login(b.get(authorize), email, alicePassword)
	if p.isConsentPage() {
		p = b.consent(p, "allow")
	}
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirect+"?") {
		t.Fatalf("sign-in: %d %q: %.500s", p.status, p.location, p.body)
	}
	client.send(p.location)
	msg := next()
	if stepUp {
		// The step-up: the same browser (signed in), consent for the
		// scopes the server named.
		if err := json.Unmarshal(msg["authorize"], &authorize); err != nil || authorize == "" {
			t.Fatalf("no second authorization for the step-up: %v", msg)
		}
		u, _ := url.Parse(authorize)
		if scope := " " + u.Query().Get("scope") + " "; !strings.Contains(scope, " mcp:admin ") || !strings.Contains(scope, " mcp:tools ") {
			t.Fatalf("the step-up asks for %q, want mcp:tools and mcp:admin", u.Query().Get("scope"))
		}
		p = b.get(authorize)
		if !p.isConsentPage() || !strings.Contains(p.body, "mcp:admin") {
			t.Fatalf("the step-up's consent: %d %s %.500s", p.status, p.url, p.body)
		}
		p = b.consent(p, "allow")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirect+"?") {
			t.Fatalf("step-up: %d %q: %.500s", p.status, p.location, p.body)
		}
		client.send(p.location)
		msg = next()
	}
	var got mcpClientResult
	if err := json.Unmarshal(msg["result"], &got); err != nil {
		t.Fatalf("%v: %v", err, msg)
	}
	return got
}
