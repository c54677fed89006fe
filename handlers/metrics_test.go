package handlers

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider"
)

// TestMetricsRateLimitRejections: every 429 of the rate limits is counted
// once, under its endpoint group and the limit that was spent; requests
// that were served are not counted.
func TestMetricsRateLimitRejections(t *testing.T) {
	generous := RateLimit{Rate: 1000, Burst: 1000, Period: time.Second}
	tight := RateLimit{Rate: 1, Burst: 2, Period: time.Hour}
	rejections := func(f *rlFixture, endpoint, limit string) float64 {
		return obstest.CounterValue(t, f.reg, "gatehouse_rate_limit_rejections_total", map[string]string{"endpoint": endpoint, "limit": limit})
	}

	f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: generous, PerClient: tight, LoginPerIP: tight})
	// Every series is there at 0 before the first rejection.
	for _, s := range [][2]string{{rlToken, limitPerClient}, {rlToken, limitPerIP}, {rlRegister, limitPerIP}, {rlLogin, limitPerIP}} {
		if got := rejections(f, s[0], s[1]); got != 0 {
			t.Fatalf("%v before any request: %v, want 0", s, got)
		}
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	app, appSecret := f.newClient(t, "app")
	f.addClient(t, app)
	for range 2 {
		if rec := f.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)); rec.Code != http.StatusOK {
			t.Fatalf("a request within the burst: %d %s", rec.Code, rec.Body.String())
		}
	}
	if got := rejections(f, rlToken, limitPerClient); got != 0 {
		t.Fatalf("served requests counted: %v", got)
	}
	for range 3 {
		want429(t, "token request over the client's budget", f.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)), true)
	}
	login := url.Values{"email": {"a@example.com"}, "password": {"x"}}
	for range 2 {
		f.post("/login", login)
	}
	want429(t, "login over the IP's budget", f.post("/login", login), false)

	for _, c := range []struct {
		endpoint, limit string
		want            float64
	}{
		{rlToken, limitPerClient, 3}, {rlToken, limitPerIP, 0}, {rlLogin, limitPerIP, 1}, {rlIntrospect, limitPerClient, 0},
	} {
		if got := rejections(f, c.endpoint, c.limit); got != c.want {
			t.Errorf("rejections{endpoint=%q,limit=%q} = %v, want %v", c.endpoint, c.limit, got, c.want)
		}
	}

	f = newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: tight, PerClient: generous, LoginPerIP: generous})
	for range 2 {
		f.post(provider.PathRevoke, url.Values{"token": {"x"}}, basic("app"))
	}
	want429(t, "revocation over the IP's budget", f.post(provider.PathRevoke, url.Values{"token": {"x"}}, basic("app")), true)
	if got := rejections(f, rlRevoke, limitPerIP); got != 1 {
		t.Errorf("revoke per-IP rejections = %v, want 1", got)
	}
	if got := rejections(f, rlRevoke, limitPerClient); got != 0 {
		t.Errorf("revoke per-client rejections = %v, want 0", got)
	}
}

// brokenCollector fails every collection, as a collector whose source is
// unreachable would.
type brokenCollector struct{ desc *prometheus.Desc }

func (c brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(c.desc, errors.New("source unreachable"))
}

// TestMetricsEndpointSurvivesFailingCollector: a collector that fails
// leaves its own metrics out; the scrape still answers 200 with the rest,
// and the failure is counted for alerting.
func TestMetricsEndpointSurvivesFailingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(brokenCollector{prometheus.NewDesc("test_broken", "Always fails.", nil, nil)})
	h := newFixture(t, "http://127.0.0.1:8080", func(o *Options) { o.Metrics = reg }).h
	admin := h.Admin(reg)
	scrape := func() (int, string) {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(body)
	}
	scrape() // the first scrape is where the request histogram gets its first series
	code, body := scrape()
	if code != http.StatusOK {
		t.Fatalf("scrape with a failing collector: %d %.300s", code, body)
	}
	for _, want := range []string{
		`gatehouse_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}`,
		`promhttp_metric_handler_errors_total{cause="gathering"} 1`,
		`promhttp_metric_handler_requests_total{code="200"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "test_broken") {
		t.Error("the failing collector's metric was exposed")
	}
}
