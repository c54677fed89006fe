# lib.sh — what bench.sh (make bench) and soak.sh (make soak) share: checks
# of the settings, a scratch folder removed on exit, the builds, a fresh
# database, gatehouse's environment and its start. Sourced, never run.
#
# The sourcing script sets lib_name (the prefix of its messages, e.g.
# "bench") and the settings DB, PG_HOST, PG_PORT, PG_USER and
# READY_TIMEOUT, then calls, in this order:
#   lib_check_settings                  DB and PG_HOST are sane
#   lib_init RESULTS_DEFAULT            root, cd, $work, $RESULTS, the traps
#   lib_build                           $gh, $tool and $work/loadgen
#   lib_database                        GATEHOUSE_DSN, $db_desc, $aux (and $dbname)
#   lib_server_env                      ports, $base, gatehouse's GATEHOUSE_* settings
#   lib_start_server LOG                starts `gatehouse serve`, sets $server_pid
# Everything stays on loopback; cleanup kills what was started (by pid) and
# drops the database, whatever the outcome.

server_pid=""
loadgen_pid=""
dbname=""

die() {
	echo "$lib_name: $*" >&2
	exit 1
}

lib_check_settings() {
	case "$DB" in
	postgres | sqlite) ;;
	*) die "DB must be postgres or sqlite, not '$DB'" ;;
	esac
	case "$PG_HOST" in
	127.0.0.1 | localhost | ::1) ;;
	*) die "PG_HOST must be a loopback address (the benchmark measures this machine only), not '$PG_HOST'" ;;
	esac
	case "${RATE_LIMITS:-off}" in
	off | local) ;;
	redis) lib_check_redis_url ;;
	*) die "RATE_LIMITS must be off, local or redis, not '$RATE_LIMITS'" ;;
	esac
}

# lib_check_redis_url: REDIS_URL (default database 15 on loopback), when a
# setting uses Redis, is on loopback.
lib_check_redis_url() {
	case "${REDIS_URL:-redis://127.0.0.1:6379/15}" in
	redis://127.0.0.1[:/]* | redis://localhost[:/]* | "redis://[::1]"*) ;;
	*) die "REDIS_URL must be a redis:// URL on a loopback address, not '$REDIS_URL'" ;;
	esac
}

psql_admin() {
	# -w: never prompt for a password; the connect timeout bounds a dead server.
	PGCONNECT_TIMEOUT=5 psql -X -q -w -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

# psql_bench runs psql on the fresh database.
psql_bench() {
	PGCONNECT_TIMEOUT=5 psql -X -q -w -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$dbname" "$@"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$loadgen_pid" ]]; then
		kill -TERM "$loadgen_pid" 2>/dev/null || true
		wait "$loadgen_pid" 2>/dev/null || true
	fi
	if [[ -n "${document_pid:-}" ]]; then
		kill -TERM "$document_pid" 2>/dev/null || true
		wait "$document_pid" 2>/dev/null || true
	fi
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# Graceful shutdown first, bounded; then force.
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ -n "$dbname" ]]; then
		psql_admin -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1 ||
			echo "$lib_name: could not drop database $dbname; drop it by hand" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}

# lib_init RESULTS_DEFAULT: the repository root as working directory, a
# scratch folder $work for binaries and secrets, and $RESULTS (the
# environment's, else RESULTS_DEFAULT).
lib_init() {
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	cd "$root"
	work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-$lib_name.XXXXXX")
	RESULTS=${RESULTS:-$1}
	mkdir -p "$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

lib_build() {
	echo "$lib_name: building gatehouse and the load generator" >&2
	go build -o "$work/gatehouse" ./cmd/gatehouse
	go build -o "$work/loadgen" ./cmd/loadgen
	go build -o "$work/benchtool" ./cmd/loadgen/benchtool
	gh="$work/gatehouse"
	tool="$work/benchtool"
}

# lib_database creates the fresh database and points gatehouse at it.
lib_database() {
	if [[ "$DB" == postgres ]]; then
		command -v psql >/dev/null || die "psql not found (DB=postgres needs the PostgreSQL client; or use DB=sqlite)"
		pg_version=$(psql_admin -Atc 'SHOW server_version') || die "PostgreSQL on $PG_HOST:$PG_PORT (user $PG_USER) is not reachable"
		dbname="gh_${lib_name}_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
		psql_admin -c "CREATE DATABASE $dbname" >/dev/null
		pg_url_host=$PG_HOST
		[[ "$pg_url_host" == *:* ]] && pg_url_host="[$pg_url_host]" # IPv6 literal in a URL
		export GATEHOUSE_DSN="postgres://$PG_USER@$pg_url_host:$PG_PORT/$dbname?sslmode=disable"
		db_desc="PostgreSQL $pg_version on $PG_HOST:$PG_PORT (fresh database $dbname)"
		aux=(-aux-comm postgres)
	else
		export GATEHOUSE_DSN="sqlite://$work/bench.db"
		db_desc="SQLite (embedded), file on $(df -PT "$work" | awk 'NR==2 {print $2}') at $work"
		aux=()
	fi
}

# lib_server_env sets what gatehouse is started with: two free loopback
# ports, a random secret, opaque ES256 defaults and no rate limits. The
# issuer's host is $lib_issuer_host (default 127.0.0.1; passkeys need a
# domain name, so the passkey scenario sets localhost, which /etc/hosts
# maps to loopback).
lib_server_env() {
	local ports
	ports=$("$tool" freeport 2)
	read -r port admin_port <<<"$ports"
	[[ -n "$port" && -n "$admin_port" ]] || die "no free loopback ports"
	base="http://${lib_issuer_host:-127.0.0.1}:$port"

	GATEHOUSE_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
	export GATEHOUSE_SECRET
	export GATEHOUSE_ISSUER="$base"
	export GATEHOUSE_LISTEN="127.0.0.1:$port"
	export GATEHOUSE_ADMIN_LISTEN="127.0.0.1:$admin_port"
	export GATEHOUSE_LOG_LEVEL=warn
	# Opaque by default; the second client asks for JWTs itself, signed ES256.
	export GATEHOUSE_ACCESS_TOKENS_FORMAT=opaque
	export GATEHOUSE_ACCESS_TOKENS_SIGNING_ALG=ES256
	# The whole load comes from one IP and, per scenario, one client: with the
	# default limits (200/s per IP, 100/s per client) the run would measure the
	# limiter's 429s, not the server. Hydra's figures were taken without limits.
	# RATE_LIMITS=local|redis measures what checking them costs instead: the
	# limiters run on every request with budgets nobody reaches (1,000,000/s),
	# in process or in Redis (REDIS_URL, by default database 15 on loopback).
	case "${RATE_LIMITS:-off}" in
	off) export GATEHOUSE_RATE_LIMITS_ENABLED=false ;;
	local | redis)
		export GATEHOUSE_RATE_LIMITS_ENABLED=true
		export GATEHOUSE_RATE_LIMITS_PER_IP_RATE=1000000 GATEHOUSE_RATE_LIMITS_PER_IP_BURST=1000000 GATEHOUSE_RATE_LIMITS_PER_IP_PERIOD=1s
		export GATEHOUSE_RATE_LIMITS_PER_CLIENT_RATE=1000000 GATEHOUSE_RATE_LIMITS_PER_CLIENT_BURST=1000000 GATEHOUSE_RATE_LIMITS_PER_CLIENT_PERIOD=1s
		if [[ $RATE_LIMITS == redis ]]; then
			export GATEHOUSE_REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
		fi
		;;
	esac
}

# lib_start_server LOG starts gatehouse and waits until it is ready.
lib_start_server() {
	local log=$1
	"$gh" serve >"$log" 2>&1 &
	server_pid=$!
	echo "$lib_name: gatehouse pid $server_pid on $base (admin 127.0.0.1:$admin_port)" >&2
	if ! "$tool" wait -url "http://127.0.0.1:$admin_port/health/ready" -timeout "$READY_TIMEOUT" -pid "$server_pid"; then
		tail -n 20 "$log" >&2 || true
		die "gatehouse did not become ready"
	fi
}
