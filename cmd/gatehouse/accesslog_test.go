package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestAccessLog: outside --dev the log is JSON, one line per request with
// request id, route, status, latency and client id, and never a secret, a
// token or a query string.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs obstest.LogBuffer
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	s := startServerLoggingTo(t, store, &logs, func(c *config.Config) { c.Log.Level = "info" })
	t.Cleanup(s.stop)
	machine, secret := s.client(admin.ClientSpec{Name: "Cron", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
	tok, code := s.ccToken(t, machine.ID, secret, "api")
	if tok == "" {
		t.Fatalf("token: %s", code)
	}
	// A request with a query: the state must not be logged.
	state := "state-" + randomString(t, 12)
	resp, err := http.Get(s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {machine.ID}, "state": {state}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop()

	out := logs.String()
	for _, secretValue := range []string{secret, tok, state} {
		if strings.Contains(out, secretValue) {
			t.Fatalf("the log holds %q:\n%s", secretValue, out)
		}
	}
	byRoute := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON log line: %q: %v", sc.Text(), err)
		}
		if line["msg"] == "http request" {
			byRoute[line["route"].(string)] = line
		}
	}
	token, ok := byRoute[provider.PathToken]
	if !ok {
		t.Fatalf("no access log line for %s in:\n%s", provider.PathToken, out)
	}
	if token["status"] != float64(http.StatusOK) || token["method"] != "POST" || token["client_id"] != machine.ID ||
		token["request_id"] == nil || token["request_id"] == "" || token["duration_ms"] == nil {
		t.Fatalf("token request line: %v", token)
	}
	auth, ok := byRoute[provider.PathAuthorize]
	if !ok || auth["client_id"] != machine.ID || strings.Contains(auth["path"].(string), "?") {
		t.Fatalf("authorize request line: %v", auth)
	}
}
