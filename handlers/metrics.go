package handlers

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the request counters and latencies per route, and the
// requests the rate limits refused.
type httpMetrics struct {
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
}

// Values of the limit label of gatehouse_rate_limit_rejections_total: which
// budget was spent (the configuration's rate_limits.per_ip / per_client;
// the login limit is per IP too).
const (
	limitPerIP     = "per_ip"
	limitPerClient = "per_client"
)

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by method, route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limit_rejections_total",
			Help: "Requests refused with 429 by the rate limits, by endpoint group and the limit that was spent.",
		}, []string{"endpoint", "limit"}),
	}
	reg.MustRegister(m.duration, m.rateLimited)
	// Every limited endpoint's series exists from the start at 0, so an
	// alert on rate() sees the first rejection.
	for _, g := range []string{rlToken, rlIntrospect, rlRevoke, rlPAR} {
		m.rateLimited.WithLabelValues(g, limitPerIP)
		m.rateLimited.WithLabelValues(g, limitPerClient)
	}
	m.rateLimited.WithLabelValues(rlRegister, limitPerIP)
	m.rateLimited.WithLabelValues(rlLogin, limitPerIP)
	return m
}

// observe records one request. The route is echo's pattern (never the raw
// path), so label cardinality stays bounded.
func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.duration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// rejected counts a request refused by the limit of endpoint group (one of
// the rl* constants). m is nil when the handlers have no registry.
func (m *httpMetrics) rejected(group, limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(group, limit).Inc()
}

// metricsTimeout bounds the gathering of one scrape, well within
// RequestTimeout: a collector stuck on the database (the pool statistics
// do not query it, but a later collector might) answers 503 instead of
// holding the connection.
const metricsTimeout = 10 * time.Second

// metricsMaxInFlight bounds concurrent scrapes; more are answered 503 at
// once. Prometheus scrapes one at a time per target; a few leave room for
// a second scraper or a person with curl.
const metricsMaxInFlight = 4

// metricsHandler serves reg in the Prometheus exposition formats. It runs
// on the admin listener only: a slow or stuck scraper holds at most
// metricsMaxInFlight admin connections, each for at most metricsTimeout,
// and never touches the public listener. A collector that fails leaves
// its metrics out (and logs why) instead of failing the whole scrape.
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: metricsMaxInFlight,
		Timeout:             metricsTimeout,
	})
	// promhttp_metric_handler_requests_total{code} and _in_flight: scrapes
	// refused or failed show up on the next one that gets through.
	return promhttp.InstrumentMetricHandler(reg, h)
}
