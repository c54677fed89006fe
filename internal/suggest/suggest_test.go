package suggest

import "testing"

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		s          string
		candidates []string
		want       string
	}{
		{"craete", []string{"list", "create", "delete"}, "create"},
		{"serv", []string{"migrate", "serve", "users"}, "serve"},
		{"GATEHOUSE_DNS", []string{"GATEHOUSE_DSN", "GATEHOUSE_LISTEN"}, "GATEHOUSE_DSN"},
		// Too far from anything: no guess.
		{"frobnicate", []string{"create", "delete"}, ""},
		// One edit in a two-letter word is half of it: no guess.
		{"ls", []string{"list"}, ""},
		{"x", nil, ""},
	} {
		if got := Nearest(tc.s, tc.candidates); got != tc.want {
			t.Errorf("Nearest(%q, %q) = %q, want %q", tc.s, tc.candidates, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"craete", "create", 2},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
