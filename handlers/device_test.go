package handlers

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
)

// TestAccountNextAllowsTheDevicePageOnly: after signing in, the browser
// goes back to the device page with the code it typed, and nowhere else
// (no open redirect through next=).
func TestAccountNextAllowsTheDevicePageOnly(t *testing.T) {
	for next, want := range map[string]string{
		"/device":                     "/device",
		"/device?user_code=BCDF-GHJK": "/device?user_code=BCDF-GHJK",
		"/device?user_code=BCDF-GHJK&next=//evil": "/account/apps",
		"/device?user_code=//evil.example":        "/account/apps",
		"/device/../admin":                        "/account/apps",
		"//evil.example/device":                   "/account/apps",
		"/devicex":                                "/account/apps",
	} {
		if got := accountNext(next); got != want {
			t.Errorf("accountNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestGuessLimiter: five wrong guesses per key per minute, then none until
// the window passes; one key's guesses do not block another.
func TestGuessLimiter(t *testing.T) {
	clock := clocktest.New(time.Now())
	l := newGuessLimiter(clock.Now)
	for range deviceGuessLimit {
		if l.blocked("ip:a", "session:1") {
			t.Fatal("blocked before the limit")
		}
		l.failed("ip:a", "session:1")
	}
	if !l.blocked("ip:a", "session:2") || !l.blocked("ip:b", "session:1") {
		t.Fatal("not blocked after the limit (per IP and per session)")
	}
	if l.blocked("ip:b", "session:2") {
		t.Fatal("another IP and session are blocked")
	}
	clock.Advance(deviceGuessWindow)
	if l.blocked("ip:a", "session:1") {
		t.Fatal("still blocked after the window")
	}
}
