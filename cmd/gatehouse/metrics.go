package main

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// newMetricsRegistry is the registry served at /metrics on the admin
// listener: the process-level collectors, the database pools' statistics
// and the build information. The provider and the handlers register their
// own metrics on it. It is one registry per app, not Prometheus's global
// default, so that tests running several servers in one process do not
// collide.
func newMetricsRegistry(store *bunstore.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// go_build_info{path,version,checksum}: the Go module's view.
		collectors.NewBuildInfoCollector(),
	)
	// go_sql_* per pool (db_name "primary", and "reader" on SQLite): the
	// statistics database/sql keeps in memory; collecting them runs no
	// query, so a slow database never slows a scrape.
	for name, db := range store.Pools() {
		reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
	version, revision := buildVersion()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gatehouse_build_info",
		Help:        "Always 1; the labels say which gatehouse build is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "go_version": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(info)
	return reg
}

// buildVersion reads the version and VCS revision the Go toolchain stamped
// into the binary (there is no version variable set by -ldflags):
// "go install ...@v1.2.3" stamps the module version, a build in a git
// checkout the commit (with "-dirty" for uncommitted changes). What is
// missing (a build from a source tarball, a test binary) reads "unknown"
// or Go's "(devel)".
func buildVersion() (version, revision string) {
	version, revision = "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && revision != "unknown" {
		revision += "-dirty"
	}
	return version, revision
}
