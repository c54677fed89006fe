package login

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus counters of sign-ins, counted where their audit events are
// recorded. Label values come from the fixed sets below, never from a
// request, so the number of series stays bounded.

// Values of the method and outcome labels of gatehouse_login_attempts_total.
const (
	methodPassword  = "password"
	methodFederated = "federated"

	outcomeSucceeded = "succeeded"
	// outcomeFailed: a wrong password, unknown account, disabled account,
	// invalid input, or a refused upstream sign-in.
	outcomeFailed = "failed"
	// outcomeLocked: the account was locked, so the password was not checked.
	outcomeLocked = "locked"
)

type metrics struct {
	attempts *prometheus.CounterVec
	lockouts prometheus.Counter
}

// newMetrics makes the sign-in counters and registers them on reg. With a
// nil reg they count without being exposed (tests, CLI commands).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_login_attempts_total",
			Help: "Sign-in attempts by method (password, federated) and outcome (succeeded, failed, locked).",
		}, []string{"method", "outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_login_lockouts_total",
			Help: "Accounts locked (or locked again for longer) after failed password sign-ins.",
		}),
	}
	// Every series exists from the start at 0, so rate() and alerts see
	// the first event rather than a series appearing from nothing.
	for _, o := range []string{outcomeSucceeded, outcomeFailed, outcomeLocked} {
		m.attempts.WithLabelValues(methodPassword, o)
	}
	for _, o := range []string{outcomeSucceeded, outcomeFailed} {
		m.attempts.WithLabelValues(methodFederated, o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.lockouts} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("login: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// login counts a sign-in attempt; method and outcome are the constants
// above.
func (m *metrics) login(method, outcome string) {
	m.attempts.WithLabelValues(method, outcome).Inc()
}
