package main

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/federation/fedtest"
)

// samples is one scrape of /metrics: each series' value by
// name{label="value",...} (labels sorted), histograms as name_count and
// name_sum.
type samples map[string]float64

// seriesKey names a series: name and label name/value pairs.
func seriesKey(name string, labels ...string) string {
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// scrapeMetrics reads the admin listener's /metrics with the Prometheus
// text parser (so a malformed exposition fails the test).
func scrapeMetrics(t *testing.T, s *testServer) samples {
	t.Helper()
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not a valid exposition: %v", err)
	}
	out := samples{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			switch {
			case m.GetCounter() != nil:
				out[seriesKey(name, labels...)] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[seriesKey(name, labels...)] = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				out[seriesKey(name, labels...)] = m.GetUntyped().GetValue()
			case m.GetHistogram() != nil:
				out[seriesKey(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				out[seriesKey(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			case m.GetSummary() != nil:
				out[seriesKey(name+"_count", labels...)] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out
}

// find returns the key of a series of name (ok false when there is
// none), for a series whose label values the test cannot know in advance.
func (s samples) find(name string) (key string, ok bool) {
	for k := range s {
		if strings.HasPrefix(k, name+"{") {
			return k, true
		}
	}
	return "", false
}

// TestMetrics drives the real server through each event the metrics
// count — client_credentials tokens up to a per-client 429, a sign-in with
// a wrong then the right password, the code exchange, a refresh, a reuse
// of the spent refresh token, a revocation — and checks that each counter
// moved by exactly that much between two scrapes of the admin listener,
// along with the request histogram of the token route, the database pool
// gauges and the build information.
func TestMetrics(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		// A per-client budget of 4 token requests a minute: the machine
		// client spends it, the app's 3 token requests stay within theirs.
		perClient := config.Limit{Rate: 1, Burst: 4, Period: time.Minute}
		s := startServer(t, dialect, withLimits(generousLimit, perClient, generousLimit))
		s.user("mia@example.com", alicePassword)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{"api"}})
		// A 0 retry window makes the second use of a refresh token reuse
		// at once.
		noWindow := time.Duration(0)
		app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true,
			Scopes: []string{"openid", "offline_access"}, RefreshRetryWindow: &noWindow})
		conf := s.oauthConfig(app, appSecret, "openid", "offline_access")

		before := scrapeMetrics(t, s)
		// The counters exist before their first event (rate() and alerts
		// see the first one).
		for _, k := range []string{
			seriesKey("gatehouse_tokens_issued_total", "grant_type", "client_credentials"),
			seriesKey("gatehouse_login_attempts_total", "method", "password", "outcome", "locked"),
			seriesKey("gatehouse_rate_limit_rejections_total", "endpoint", "token", "limit", "per_client"),
			seriesKey("gatehouse_refresh_reuse_detections_total"),
			seriesKey("gatehouse_tokens_revoked_total"),
		} {
			if v, ok := before[k]; !ok || v != 0 {
				t.Fatalf("before any request: %s = %v (present %v), want 0", k, v, ok)
			}
		}

		// Machine tokens: counted at once, not when the audit summary is
		// written (every 10 s by default).
		var machineToken string
		for i := range perClient.Burst {
			status, body, _ := tokenRequest(t, s, robot.ID, robotSecret)
			if status != http.StatusOK {
				t.Fatalf("client_credentials %d: %d %v", i+1, status, body)
			}
			machineToken, _ = body["access_token"].(string)
		}
		status, body, hdr := tokenRequest(t, s, robot.ID, robotSecret)
		wantTooMany(t, "client_credentials over the client's budget", status, body, hdr)

		// A wrong password, then the right one.
		b := s.newBrowser()
		verifier, challenge := pkce()
		p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge))
		p = b.login(p, "mia@example.com", "not the password")
		if p.status != http.StatusUnauthorized || !p.isLoginPage() {
			t.Fatalf("wrong password: %d %.300s", p.status, p.body)
		}
		cb := b.login(p, "mia@example.com", alicePassword).callback(t)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}

		// A refresh, then the spent refresh token again: reuse.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		if st, out, _ := postForm(t, s.issuer+provider.PathToken, form, app.ID, appSecret); st != http.StatusOK {
			t.Fatalf("refresh: %d %v", st, out)
		}
		if st, out, _ := postForm(t, s.issuer+provider.PathToken, form, app.ID, appSecret); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", st, out)
		}

		if st, out, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {machineToken}}, robot.ID, robotSecret); st != http.StatusOK {
			t.Fatalf("revoke: %d %v", st, out)
		}

		after := scrapeMetrics(t, s)
		for _, c := range []struct {
			key  string
			want float64
		}{
			{seriesKey("gatehouse_tokens_issued_total", "grant_type", "client_credentials"), float64(perClient.Burst)},
			{seriesKey("gatehouse_tokens_issued_total", "grant_type", "authorization_code"), 1},
			{seriesKey("gatehouse_tokens_issued_total", "grant_type", "refresh_token"), 1},
			{seriesKey("gatehouse_login_attempts_total", "method", "password", "outcome", "failed"), 1},
			{seriesKey("gatehouse_login_attempts_total", "method", "password", "outcome", "succeeded"), 1},
			{seriesKey("gatehouse_login_attempts_total", "method", "password", "outcome", "locked"), 0},
			{seriesKey("gatehouse_login_lockouts_total"), 0},
			{seriesKey("gatehouse_refresh_reuse_detections_total"), 1},
			{seriesKey("gatehouse_tokens_revoked_total"), 1},
			{seriesKey("gatehouse_rate_limit_rejections_total", "endpoint", "token", "limit", "per_client"), 1},
			{seriesKey("gatehouse_rate_limit_rejections_total", "endpoint", "token", "limit", "per_ip"), 0},
			// The token route: the machine tokens, the exchange and the
			// refresh answered 200; the reuse 400; the refusal 429.
			{seriesKey("gatehouse_http_request_duration_seconds_count", "method", "POST", "route", provider.PathToken, "status", "200"), float64(perClient.Burst) + 2},
			{seriesKey("gatehouse_http_request_duration_seconds_count", "method", "POST", "route", provider.PathToken, "status", "400"), 1},
			{seriesKey("gatehouse_http_request_duration_seconds_count", "method", "POST", "route", provider.PathToken, "status", "429"), 1},
			{seriesKey("gatehouse_http_request_duration_seconds_count", "method", "POST", "route", "/login", "status", "401"), 1},
		} {
			if _, ok := after[c.key]; !ok {
				t.Errorf("%s is missing", c.key)
				continue
			}
			if got := after[c.key] - before[c.key]; got != c.want {
				t.Errorf("%s moved by %v, want %v", c.key, got, c.want)
			}
		}
		if sum := after[seriesKey("gatehouse_http_request_duration_seconds_sum", "method", "POST", "route", provider.PathToken, "status", "200")]; sum <= 0 {
			t.Errorf("token route latency sum = %v, want > 0", sum)
		}

		// Database pools: one writer connection on SQLite beside its
		// readers; one pool on PostgreSQL.
		primary := seriesKey("go_sql_max_open_connections", "db_name", "primary")
		reader := seriesKey("go_sql_max_open_connections", "db_name", "reader")
		if _, ok := after[primary]; !ok {
			t.Fatalf("no pool statistics for the primary pool")
		}
		if _, ok := after[seriesKey("go_sql_open_connections", "db_name", "primary")]; !ok {
			t.Error("no open-connections gauge for the primary pool")
		}
		_, hasReader := after[reader]
		switch dialect {
		case "sqlite":
			if after[primary] != 1 || !hasReader || after[reader] < 1 {
				t.Errorf("sqlite pools: primary max %v, reader max %v (present %v); want 1 and >= 1", after[primary], after[reader], hasReader)
			}
		default:
			if hasReader {
				t.Error("a reader pool on PostgreSQL, which has one pool")
			}
		}

		// Build information.
		key, ok := after.find("gatehouse_build_info")
		if !ok || after[key] != 1 {
			t.Fatalf("gatehouse_build_info: %q = %v", key, after[key])
		}
		for _, want := range []string{`go_version="` + runtime.Version() + `"`, `revision="`, `version="`} {
			if !strings.Contains(key, want) {
				t.Errorf("gatehouse_build_info %s lacks %s", key, want)
			}
		}
		if strings.Contains(key, `version=""`) || strings.Contains(key, `revision=""`) {
			t.Errorf("gatehouse_build_info has an empty label: %s", key)
		}
		if _, ok := after.find("go_build_info"); !ok {
			t.Error("go_build_info is missing")
		}
	})
}

// TestMetricsFederatedSignIn: a sign-in through an upstream identity
// provider and a refused upstream callback are counted under method
// federated, apart from password sign-ins.
func TestMetricsFederatedSignIn(t *testing.T) {
	t.Parallel()
	f := startFedServer(t, "sqlite")
	c, secretValue := f.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
	conf := f.oauthConfig(c, secretValue, "openid", "email")
	f.up.SetIdentity(fedtest.Identity{Subject: "corp-ada", Email: "ada@corp.example", EmailVerified: true, Name: "Ada L"})
	before := scrapeMetrics(t, f.testServer)

	b := f.newBrowser()
	_, challenge := pkce()
	if cb := f.upstreamLogin(t, b, b.get(conf.AuthCodeURL(randomString(t, 16), challenge))).callback(t); cb.Get("code") == "" {
		t.Fatalf("upstream sign-in: %v", cb)
	}
	// A callback without its state is refused (and audited as such).
	if p := f.newBrowser().get(f.issuer + "/login/corp/callback?code=x"); p.status < 400 {
		t.Fatalf("callback without state: %d", p.status)
	}

	after := scrapeMetrics(t, f.testServer)
	for _, c := range []struct {
		method, outcome string
		want            float64
	}{
		{"federated", "succeeded", 1}, {"federated", "failed", 1},
		{"password", "succeeded", 0}, {"password", "failed", 0},
	} {
		k := seriesKey("gatehouse_login_attempts_total", "method", c.method, "outcome", c.outcome)
		if got := after[k] - before[k]; got != c.want {
			t.Errorf("%s moved by %v, want %v", k, got, c.want)
		}
	}
}
