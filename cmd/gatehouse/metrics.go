package main

import (
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
	// The same build facts as `gatehouse version`.
	build := buildVersion()
	revision := build.Revision
	switch {
	case revision == "":
		revision = "unknown"
	case build.Modified:
		revision += "-dirty"
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gatehouse_build_info",
		Help:        "Always 1; the labels say which gatehouse build is running.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": revision, "go_version": build.Go},
	})
	info.Set(1)
	reg.MustRegister(info)
	return reg
}
