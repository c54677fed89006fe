package provider

import (
	"testing"
	"time"
)

// The machine-token counts: one entry per client, key and scope, with the
// first and last time and whether several IPs asked; full at the bound so
// that the summary is written early and memory stays bounded.
func TestIssuedSummaryCounts(t *testing.T) {
	var s issuedSummary
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	k := issuedKey{clientID: "c", scope: "api"}
	s.add(k, t0, "10.0.0.1")
	s.add(k, t0.Add(time.Second), "10.0.0.1")
	s.add(issuedKey{clientID: "c", apiKeyID: "key1", scope: "api"}, t0, "10.0.0.2")
	got := s.take()
	if len(got) != 2 {
		t.Fatalf("%d keys, want 2", len(got))
	}
	if c := got[k]; c.n != 2 || !c.first.Equal(t0) || !c.last.Equal(t0.Add(time.Second)) || c.ips || c.ip != "10.0.0.1" {
		t.Fatalf("count = %+v", c)
	}
	if len(s.take()) != 0 {
		t.Fatal("take did not start new counts")
	}
	s.add(k, t0, "10.0.0.1")
	s.add(k, t0, "10.0.0.3")
	if c := s.take()[k]; !c.ips || c.ip != "10.0.0.3" {
		t.Fatalf("several IPs not noted: %+v", c)
	}
	for i := range maxIssuedKeys - 1 {
		if s.add(issuedKey{clientID: string(rune('a' + i%26)), scope: time.Duration(i).String()}, t0, "") {
			t.Fatalf("full after %d keys, want %d", i+1, maxIssuedKeys)
		}
	}
	if !s.add(issuedKey{clientID: "last"}, t0, "") {
		t.Fatalf("not full at %d keys", maxIssuedKeys)
	}
}
