// Package obstest reads what the observability code recorded — spans,
// Prometheus counters and logs — for the tests of the packages that record them.
package obstest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SpanAttr is the value of the attribute key of s, and whether s has it.
func SpanAttr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit(), true
		}
	}
	return "", false
}

// SpanText is everything a span would export that could hold a value: its
// name, attributes, status description and events, for tests that look
// for a secret in it.
func SpanText(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name())
	for _, a := range s.Attributes() {
		b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
	}
	b.WriteString(" " + s.Status().Description)
	for _, e := range s.Events() {
		b.WriteString(" " + e.Name)
		for _, a := range e.Attributes {
			b.WriteString(" " + a.Value.Emit())
		}
	}
	return b.String()
}

// CounterValue is the value of the counter name with exactly the labels
// want (nil for none) in reg; -1 when there is no such series.
func CounterValue(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
