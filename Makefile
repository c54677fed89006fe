# gatehouse's make targets. The project builds and tests with plain `go`
# commands (see CONTRIBUTING.md); make only wraps the benchmarks.
#
#   make bench          load benchmark on a fresh PostgreSQL database (127.0.0.1:5432, user postgres)
#   make bench-sqlite   the same on a fresh SQLite file
#   make bench-go       Go benchmarks of the hot paths (go test -bench)
#   make soak           memory soak: client_credentials at 64 connections for SOAK (10m),
#                       RSS and heap profiles after a warm-up and at the end (cmd/loadgen/soak.sh)
#
# Settings are environment variables read by cmd/loadgen/bench.sh and
# cmd/loadgen/soak.sh, e.g.
#   make bench DURATION=5s REPS=1 SCENARIOS=cc_opaque,introspect
#   make soak SOAK=20s DB=sqlite

# Variables given on the make command line reach the script's environment.
export DB DURATION WARMUP REPS CONNS PAUSE SCENARIOS RESULTS PG_HOST PG_PORT PG_USER READY_TIMEOUT
export SOAK SOAK_WARMUP SOAK_CONNS RSS_EVERY

BENCHTIME ?= 1s
GO_BENCH ?= .

.PHONY: bench bench-sqlite bench-go soak

bench:
	DB=$${DB:-postgres} bash cmd/loadgen/bench.sh

bench-sqlite:
	DB=sqlite bash cmd/loadgen/bench.sh

soak:
	DB=$${DB:-postgres} bash cmd/loadgen/soak.sh

bench-go:
	go test -run '^$$' -bench '$(GO_BENCH)' -benchtime $(BENCHTIME) -benchmem \
		./provider/ ./provider/keys/ ./provider/apikey/ ./handlers/ ./storage/bunstore/
