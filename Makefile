# gatehouse's make targets. The project builds and tests with plain `go`
# commands (see README "Development"); make only wraps the benchmarks.
#
#   make bench          load benchmark on a fresh PostgreSQL database (127.0.0.1:5432, user postgres)
#   make bench-sqlite   the same on a fresh SQLite file
#   make bench-go       Go benchmarks of the hot paths (go test -bench)
#
# Settings are environment variables read by cmd/loadgen/bench.sh, e.g.
#   make bench DURATION=5s REPS=1 SCENARIOS=cc_opaque,introspect

# Variables given on the make command line reach the script's environment.
export DB DURATION WARMUP REPS CONNS PAUSE SCENARIOS RESULTS PG_HOST PG_PORT PG_USER READY_TIMEOUT

BENCHTIME ?= 1s
GO_BENCH ?= .

.PHONY: bench bench-sqlite bench-go

bench:
	DB=$${DB:-postgres} bash cmd/loadgen/bench.sh

bench-sqlite:
	DB=sqlite bash cmd/loadgen/bench.sh

bench-go:
	go test -run '^$$' -bench '$(GO_BENCH)' -benchtime $(BENCHTIME) -benchmem \
		./provider/ ./provider/keys/ ./provider/apikey/ ./handlers/ ./storage/bunstore/
