package login

import (
	"testing"
	"time"
)

// TestNoticeGate: one notice per address per period; a retry of the one
// that went (same nonce) goes again, another does not; after the period
// one more goes; a full gate lets no new address through until entries
// age out, and never grows past its bound.
func TestNoticeGate(t *testing.T) {
	g := newNoticeGate(24*time.Hour, 2)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if !g.allow("a@example.com", "n1", now) {
		t.Fatal("the first notice was held")
	}
	if !g.allow("a@example.com", "n1", now.Add(time.Minute)) {
		t.Error("a retry of the notice that went was held")
	}
	if g.allow("a@example.com", "n2", now.Add(time.Hour)) || g.allow("a@example.com", "", now.Add(time.Hour)) {
		t.Error("a second notice within the period went")
	}
	if !g.allow("b@example.com", "n3", now.Add(time.Hour)) {
		t.Error("another address was held")
	}
	if g.allow("c@example.com", "n4", now.Add(2*time.Hour)) {
		t.Error("a full gate let a new address through")
	}
	if !g.allow("a@example.com", "n5", now.Add(24*time.Hour)) {
		t.Error("a notice after the period was held")
	}
	if !g.allow("c@example.com", "n6", now.Add(26*time.Hour)) || len(g.sent) > 2 {
		t.Errorf("entries past the period were not dropped: %d remembered", len(g.sent))
	}
}
