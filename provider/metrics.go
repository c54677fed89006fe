package provider

import (
	"fmt"

	"github.com/ory/fosite"
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus counters of what the engine does (package login counts
// sign-ins). Each is counted where its audit event is recorded, at once
// (client_credentials issuance too, which the audit trail only summarizes
// every IssuedSummaryInterval). Label values come from fixed sets, never
// from a request, so the number of series stays bounded whatever clients
// send.

// grantTypes are the values of the grant_type label: the grants composed
// in New. Anything else (not expected: fosite refuses other grants before
// a token is issued) counts as "other".
var grantTypes = []string{"authorization_code", "refresh_token", "client_credentials", GrantJWTBearer, GrantTokenExchange, GrantDeviceCode}

type metrics struct {
	tokensIssued *prometheus.CounterVec
	// issuedBy holds tokensIssued's counter per grant type, resolved once:
	// the token path then increments without a label lookup.
	issuedBy      map[string]prometheus.Counter
	tokensRevoked prometheus.Counter
	refreshReuse  prometheus.Counter
}

// newMetrics makes the provider's counters and registers them on reg. With
// a nil reg they count without being exposed (tests, CLI commands), so the
// code that counts needs no nil checks.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Token responses issued at the token endpoint (new tokens; a refresh replayed within its retry window is not counted), by grant type.",
		}, []string{"grant_type"}),
		tokensRevoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_tokens_revoked_total",
			Help: "Revocation requests (RFC 7009) served; an unknown token counts too, as the RFC answers it alike.",
		}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_refresh_reuse_detections_total",
			Help: "Rotated refresh tokens presented again after their retry window; each revoked its grant.",
		}),
	}
	// Every series exists from the start at 0, so rate() and alerts see
	// the first event rather than a series appearing from nothing.
	m.issuedBy = make(map[string]prometheus.Counter, len(grantTypes))
	for _, g := range grantTypes {
		m.issuedBy[g] = m.tokensIssued.WithLabelValues(g)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.tokensIssued, m.tokensRevoked, m.refreshReuse} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("provider: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// issued counts the token response of ar.
func (m *metrics) issued(ar fosite.AccessRequester) {
	for g, c := range m.issuedBy {
		if ar.GetGrantTypes().ExactOne(g) {
			c.Inc()
			return
		}
	}
	m.tokensIssued.WithLabelValues("other").Inc()
}
