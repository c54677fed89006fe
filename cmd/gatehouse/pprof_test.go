package main

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
)

// TestPprof: the profiler is on the admin listener only when debug.pprof
// is set, and never on the public one.
func TestPprof(t *testing.T) {
	t.Parallel()
	status := func(u string) int {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	off := startServer(t, "sqlite")
	if st := status(off.admin + "/debug/pprof/"); st != http.StatusNotFound {
		t.Fatalf("pprof without debug.pprof: %d, want 404", st)
	}
	on := startServer(t, "sqlite", func(c *config.Config) { c.Debug.Pprof = true })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		if st := status(on.admin + path); st != http.StatusOK {
			t.Errorf("%s with debug.pprof: %d, want 200", path, st)
		}
	}
	if st := status(on.issuer + "/debug/pprof/"); st != http.StatusNotFound {
		t.Fatalf("pprof on the public listener: %d, want 404", st)
	}
}
